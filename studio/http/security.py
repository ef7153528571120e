"""HTTP-level guards: HTTP Basic auth over EVERYTHING the studio serves, and a body size limit.

Authentication is one plain ASGI middleware around the whole app (`create_app` adds it before
the UI is mounted), so it covers the API routes, the Gradio page and every Gradio route (its
queue, uploads, files, SSE streams), WebSockets, /docs and /openapi.json alike, and a route added
later is covered without anyone remembering to. FastAPI dependencies would not reach the routes
of the mounted Gradio app. The API paths (/sdapi/, /studio/) take the `--api-auth` users, every
other path the `--ui-auth` users (A1111's `--gradio-auth`); either list stands in for the other
when only one is given. The body limit applies to the API paths; Gradio's uploads have their
own limit (`max_file_size`, set from the same setting in `mount_ui`)."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_PREFIXES = ("/sdapi/", "/studio/")


def parse_credentials(text: str | None) -> dict[str, str]:
    """`user:pass[,user2:pass2]` -> {user: pass}. Raises ValueError naming the bad entry."""
    credentials: dict[str, str] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        user, sep, password = item.partition(":")
        if not sep or not user:
            raise ValueError(f"api_auth: expected user:password, got {item.split(':')[0]!r}...")
        credentials[user] = password
    return credentials


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value
    return None


def _is_api(scope: Scope, prefixes: Iterable[str]) -> bool:
    path = scope.get("path", "")
    return any(path.startswith(prefix) for prefix in prefixes)


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def auth_users(api_auth: str | None, ui_auth: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """(API users, UI users) from the two settings; each list stands in for the other when only
    one is set, so nothing is left open once either is. Raises ValueError on a bad entry."""
    api_users = parse_credentials(api_auth)
    ui_users = parse_credentials(ui_auth) if ui_auth else {}
    if ui_auth and not ui_users:
        raise ValueError("ui_auth: expected user:password")
    return api_users or ui_users, ui_users or api_users


def _check(header: bytes | None, users: dict[str, str]) -> bool:
    if not header or not header.lower().startswith(b"basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    ok = False
    for known_user, known_password in users.items():
        # compare every pair so the time taken says nothing about which part was wrong
        same = secrets.compare_digest(user.encode(), known_user.encode()) & secrets.compare_digest(
            password.encode(), known_password.encode()
        )
        ok = ok or same
    return ok


class BasicAuthMiddleware:
    """HTTP Basic on every HTTP and WebSocket request: `api_users` for the API paths, `ui_users`
    for all others. 401 with a `WWW-Authenticate` challenge (browsers then ask for a login);
    a WebSocket handshake without credentials is refused (HTTP 403)."""

    def __init__(
        self,
        app: ASGIApp,
        api_users: dict[str, str],
        ui_users: dict[str, str],
        prefixes: Iterable[str] = API_PREFIXES,
    ) -> None:
        if not api_users or not ui_users:
            raise ValueError("BasicAuthMiddleware needs users for the API and for the UI")
        self.app = app
        self.api_users = api_users
        self.ui_users = ui_users
        self.prefixes = tuple(prefixes)

    def authorized(self, scope: Scope) -> bool:
        users = self.api_users if _is_api(scope, self.prefixes) else self.ui_users
        return _check(_header(scope, b"authorization"), users)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.authorized(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "authentication required"})
            return
        await _send_json(
            send,
            401,
            {"detail": "Incorrect username or password"},
            ((b"www-authenticate", b'Basic realm="Atelier", charset="UTF-8"'),),
        )


class BodyLimitMiddleware:
    """Refuse API request bodies over `max_bytes` with 413 (by Content-Length, or while reading)."""

    def __init__(self, app: ASGIApp, max_bytes: int, prefixes: Iterable[str] = API_PREFIXES) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.prefixes = tuple(prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_api(scope, self.prefixes):
            await self.app(scope, receive, send)
            return
        detail = {"detail": f"request body too large (limit {self.max_bytes // (1024 * 1024)} MB)"}
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _send_json(send, 413, detail)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI turns other errors raised while reading a body into a 400
                    raise HTTPException(413, detail["detail"])
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except HTTPException as error:
            if started or error.status_code != 413:
                raise
            if not started:
                await _send_json(send, 413, detail)
