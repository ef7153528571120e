"""What the community route modules share: path ids (422 above the signed 64-bit range), the
JSON body reader that names every bad field, OpenAPI declarations of bodies and responses, and
Civitai's cursor metadata."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import Depends, Path
from starlette.requests import Request

from hub.server.errors import ApiError, bad_request
from hub.server.params import INT64_MAX, INT64_MIN
from hub.server.routes.common import url_with

ERROR_SCHEMA = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
ERROR_DESCRIPTIONS = {
    400: "Bad input: the message names every bad parameter or field",
    401: "This route needs an API key",
    403: "Only the owner (or a moderator) may do this",
    404: "Not found (or switched off on this server)",
    409: "Conflict (the name is taken)",
    413: "The body is too large",
    422: "An id outside the signed 64-bit range",
    429: "Rate limit exceeded (see Retry-After)",
}


def checked_id(name: str, value: int) -> int:
    if value > INT64_MAX or value < INT64_MIN:
        raise ApiError(422, f"{name}: {value} is outside the signed 64-bit range of ids")
    if value < 1:
        raise bad_request(f"{name}: ids are positive, got {value}")
    return value


def path_id(name: str, what: str) -> Callable[[int], int]:
    """A dependency reading the path parameter `name` as an id."""

    declared = Path(
        alias=name, description=f"the {what}'s id", json_schema_extra={"minimum": 1, "maximum": INT64_MAX}
    )

    def dependency(value: int = declared) -> int:
        return checked_id(name, value)

    return dependency


ArticleId = Annotated[int, Depends(path_id("articleId", "article"))]
CollectionId = Annotated[int, Depends(path_id("collectionId", "collection"))]
ItemId = Annotated[int, Depends(path_id("itemId", "collected item"))]
VersionId = Annotated[int, Depends(path_id("modelVersionId", "model version"))]
ModelId = Annotated[int, Depends(path_id("modelId", "model"))]
CommentId = Annotated[int, Depends(path_id("commentId", "comment"))]
NotificationId = Annotated[int, Depends(path_id("notificationId", "notification"))]
UserId = Annotated[int, Depends(path_id("userId", "user"))]


def responses(
    *codes: int, ok: int = 200, description: str = "OK", also: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route: its success status (and `also` other ones) and its error statuses
    (429 on every route: all are rate limited), each error with the `{"error": ...}` body."""
    out: dict[int | str, dict[str, Any]] = {ok: {"description": description}}
    out |= {code: {"description": text} for code, text in (also or {}).items()}
    for code in sorted({*codes, 429}):
        out[code] = {
            "description": ERROR_DESCRIPTIONS[code],
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
    return out


def json_body(
    properties: dict[str, Any], required: Sequence[str] = (), description: str = ""
) -> dict[str, Any]:
    """`openapi_extra` declaring a JSON object body (the route reads it with `BodyReader`)."""
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return {
        "requestBody": {
            "required": bool(required),
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }


# A POST that takes no fields still declares its (empty, optional) JSON body.
NO_BODY = json_body({}, (), "no fields: the path says it all")


async def read_object(request: Request, max_bytes: int = 2 * 1024 * 1024) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > max_bytes:
        raise ApiError(413, f"body: {len(raw)} bytes is more than {max_bytes}")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise bad_request("body: not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("body: expected a JSON object")
    return body


class BodyReader:
    """Reads the fields of a JSON object body, collecting every problem; `done()` raises one 400
    naming them all (and any field it does not know)."""

    def __init__(self, body: dict[str, Any], known: Sequence[str]) -> None:
        self.body = body
        self.errors: list[str] = [f"{k}: not a field of this request" for k in body if k not in known]

    def has(self, name: str) -> bool:
        return name in self.body

    def string(self, name: str, *, required: bool = False, low: int = 0, high: int = 200) -> str | None:
        if name not in self.body:
            if required:
                self.errors.append(f"{name}: required")
            return None
        value = self.body[name]
        if not isinstance(value, str):
            self.errors.append(f"{name}: expected a string")
            return None
        stripped = value.strip() if high <= 1000 else value
        if not low <= len(stripped) <= high:
            self.errors.append(f"{name}: {low} to {high} characters, got {len(stripped)}")
            return None
        return stripped

    def choice(self, name: str, choices: Sequence[str], *, required: bool = False) -> str | None:
        if name not in self.body:
            if required:
                self.errors.append(f"{name}: required; one of {', '.join(choices)}")
            return None
        by_lower = {c.lower(): c for c in choices}
        value = self.body[name]
        match = by_lower.get(value.lower()) if isinstance(value, str) else None
        if match is None:
            self.errors.append(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
        return match

    def boolean(self, name: str, *, required: bool = False) -> bool | None:
        if name not in self.body:
            if required:
                self.errors.append(f"{name}: required (true or false)")
            return None
        value = self.body[name]
        if not isinstance(value, bool):
            self.errors.append(f"{name}: expected true or false")
            return None
        return value

    def integer(self, name: str, *, required: bool = False) -> int | None:
        if name not in self.body:
            if required:
                self.errors.append(f"{name}: required")
            return None
        value = self.body[name]
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= INT64_MAX:
            self.errors.append(f"{name}: expected a positive id (at most 2^63-1)")
            return None
        return value

    def strings(self, name: str, *, item_high: int = 50, most: int = 20) -> tuple[str, ...] | None:
        if name not in self.body:
            return None
        value = self.body[name]
        if (
            not isinstance(value, list)
            or len(value) > most
            or not all(isinstance(v, str) and 1 <= len(v.strip()) <= item_high for v in value)
        ):
            self.errors.append(f"{name}: expected at most {most} strings of 1 to {item_high} characters")
            return None
        return tuple(v.strip() for v in value)

    def ids(self, name: str, *, most: int = 50) -> tuple[int, ...] | None:
        if name not in self.body:
            return None
        value = self.body[name]
        if (
            not isinstance(value, list)
            or len(value) > most
            or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= INT64_MAX for v in value)
        ):
            self.errors.append(f"{name}: expected at most {most} positive ids")
            return None
        return tuple(dict.fromkeys(value))

    def fail(self, message: str) -> None:
        self.errors.append(message)

    def done(self) -> None:
        if self.errors:
            raise bad_request("; ".join(self.errors))


def cursor_metadata(request: Request, next_cursor: Any | None) -> dict[str, Any]:
    """Civitai's cursor paging metadata (absent on the last page)."""
    if next_cursor is None:
        return {}
    return {"nextCursor": next_cursor, "nextPage": url_with(request, cursor=next_cursor)}
