"""ASGI middleware: resolve the API key to a user, then apply per-key / per-IP rate limits."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from hub.server.auth import key_hash, token_from
from hub.server.hub_server import HubServer


async def _send_error(send: Send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class AuthRateLimitMiddleware:
    def __init__(self, app: ASGIApp, hub: HubServer) -> None:
        self.app = app
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        token = token_from(headers.get("authorization"), (query.get("token") or [None])[0])
        user = None
        if token:
            user = self.hub.user_for_key_hash(key_hash(token))
            if user is None:
                await _send_error(send, 401, "Unauthorized: unknown API key")
                return
        limiter = self.hub.key_limiter if user else self.hub.ip_limiter
        if limiter is not None:
            if user:
                bucket = f"key:{user.id}"
            else:
                ip = (scope.get("client") or ("unknown", 0))[0]
                if self.hub.config.trust_forwarded and headers.get("x-forwarded-for"):
                    ip = headers["x-forwarded-for"].split(",")[0].strip()
                bucket = f"ip:{ip}"
            allowed, _remaining, retry_after = limiter.take(bucket)
            if not allowed:
                await _send_error(
                    send,
                    429,
                    f"Rate limit exceeded: retry in {retry_after} s",
                    {"Retry-After": str(retry_after)},
                )
                return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)
