"""Helpers shared by the route modules."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from hub.server.documents import absolutize, dumps
from hub.server.hub_server import HubServer
from hub.server.store import User


def hub_of(request: Request) -> HubServer:
    return request.app.state.hub


def user_of(request: Request) -> User | None:
    return getattr(request.state, "user", None)


def origin_of(request: Request) -> str:
    configured = hub_of(request).config.public_url
    if configured:
        return configured.rstrip("/")
    return str(request.base_url).rstrip("/")


def json_text(text: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(text, status_code=status, media_type="application/json", headers=headers)


def json_doc(request: Request, value: Any, status: int = 200) -> Response:
    """A JSON response whose relative URLs are made absolute on the request's origin."""
    return json_text(absolutize(dumps(value), origin_of(request)), status)


def url_with(request: Request, **changes: Any) -> str:
    """This request's URL (on its origin) with some query parameters replaced."""
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in changes and k != "token"]
    items += [(k, str(v)) for k, v in changes.items() if v is not None]
    return f"{origin_of(request)}{request.url.path}?{urlencode(items)}"


def list_response(request: Request, docs: list[str], metadata: dict[str, Any]) -> Response:
    body = '{"items":[' + ",".join(docs) + '],"metadata":' + dumps(metadata) + "}"
    return json_text(absolutize(body, origin_of(request)))
