"""Helpers shared by the route modules: the hub, the caller, origins, JSON responses."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Security
from fastapi.security import APIKeyQuery, HTTPBearer
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.types import Message, Receive, Scope, Send

from hub.server.auth import require_user
from hub.server.documents import absolutize, dumps
from hub.server.hub_server import HubServer
from hub.server.store import User

# Declared for the OpenAPI document; the key itself is read by AuthRateLimitMiddleware, which
# runs before routing (rate limits are per key) and leaves the caller in the request state.
bearer_key = HTTPBearer(auto_error=False, description="an API key this server issued")
query_key = APIKeyQuery(name="token", auto_error=False, description="an API key, as a query parameter")


def hub_of(request: Request) -> HubServer:
    return request.app.state.hub


def user_of(request: Request) -> User | None:
    return getattr(request.state, "user", None)


BearerKey = Annotated[Any, Security(bearer_key)]
QueryKey = Annotated[Any, Security(query_key)]


def _caller(request: Request, _bearer: BearerKey, _query: QueryKey) -> User | None:
    return user_of(request)


def _signed_in(request: Request, _bearer: BearerKey, _query: QueryKey) -> User:
    return require_user(user_of(request), getattr(request.state, "anonymous_because", None))


# The caller of a route open to all (None when anonymous), and of one that needs an identity
# (401 otherwise, before any other check of the request).
Caller = Annotated[User | None, Depends(_caller)]
SignedIn = Annotated[User, Depends(_signed_in)]
# Marks the security of a route open to all as optional in the OpenAPI document.
OPTIONAL_AUTH: dict[str, Any] = {"security": [{}]}


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


class ServedFile(FileResponse):
    """A file with Range support whose errors are JSON like every other error of the server
    (Starlette answers a malformed Range with a plain-text 400 and one past the end with an
    empty 416), read in 1 MiB chunks: fewer event-loop round trips per byte."""

    chunk_size = 1024 * 1024

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, _range_errors_as_json(send))


def _range_errors_as_json(send: Send) -> Send:
    held: dict[str, Any] = {}

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] in (400, 416):
            held["start"] = message
            return
        if "start" not in held:
            await send(message)
            return
        start = held.pop("start")
        detail = message.get("body", b"").decode("utf-8", "replace").strip()
        if start["status"] == 416:
            detail = "the range starts past the end of the file (see Content-Range)"
        body = dumps({"error": f"Range: {detail or 'malformed header'}"}).encode()
        headers = [
            (k, v)
            for k, v in start.get("headers", [])
            if k.lower() not in (b"content-type", b"content-length")
        ]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return sending
