"""ASGI middleware: resolve the API key to a user, then apply per-key / per-IP rate limits.

A key this server did not issue (a civitai.com token left in CIVITAI_TOKEN, `Bearer None` from
a client with no key) or an empty one makes the request anonymous, not refused: open routes
answer it, with `X-Atelier-Auth: anonymous (unknown key)` so the client can tell; routes that
need an identity answer 401 naming the reason. Anonymous requests count against their client
address (see client_address.py), keyed ones against their account.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.server.auth import key_hash, presented_key
from hub.server.client_address import Network, client_address
from hub.server.hub_server import HubServer

log = logging.getLogger(__name__)
AUTH_HEADER = "X-Atelier-Auth"


async def _send_error(send: Send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class AuthRateLimitMiddleware:
    def __init__(self, app: ASGIApp, hub: HubServer, proxies: tuple[Network, ...]) -> None:
        self.app = app
        self.hub = hub
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        peer = (scope.get("client") or (None, 0))[0]
        address = client_address(peer, headers.get("x-forwarded-for"), self.proxies)
        key, anonymous_because = presented_key(
            headers.get("authorization"), (query.get("token") or [None])[0]
        )
        user = self.hub.user_for_key_hash(key_hash(key)) if key else None
        if key and user is None:
            anonymous_because = "unknown key"
        extra_headers: dict[str, str] = {}
        if anonymous_because:
            log.info(
                "%s %r from %r: %s, served as anonymous",
                scope["method"],
                scope["path"],
                address,
                anonymous_because,
            )
            extra_headers[AUTH_HEADER] = f"anonymous ({anonymous_because})"
        limiter = self.hub.key_limiter if user else self.hub.ip_limiter
        if limiter is not None:
            allowed, _remaining, retry_after = limiter.take(f"key:{user.id}" if user else f"ip:{address}")
            if not allowed:
                message = f"Rate limit exceeded: retry in {retry_after} s"
                await _send_error(send, 429, message, {"Retry-After": str(retry_after)} | extra_headers)
                return
        state = scope.setdefault("state", {})
        state["user"] = user
        state["anonymous_because"] = anonymous_because
        await self.app(scope, receive, _with_headers(send, extra_headers) if extra_headers else send)


def _with_headers(send: Send, headers: dict[str, str]) -> Send:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *raw]}
        await send(message)

    return sending
