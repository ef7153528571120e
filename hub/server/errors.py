"""The one error type routes raise; rendered as Civitai does: `{"error": "..."}`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def describe_errors(errors: Iterable[Mapping[str, Any]], *, located: bool, within: str = "") -> str:
    """Pydantic's errors as one message naming every bad field: `limit: ...; page: ...`.

    `located` errors start with where the value was (query, path, body: FastAPI's); that part
    is dropped, except for a body that is itself the value (`body: ...`, `body.3: ...`).
    `within` names what the errors are inside (`metadata` of an upload).
    """
    parts = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ())]
        if located and len(loc) > 1 and not loc[1].isdigit():
            loc = loc[1:]
        where = ".".join([within, *loc] if within else loc) or "request"
        parts.append(f"{where}: {str(error.get('msg', 'invalid')).removeprefix('Value error, ')}")
    return "; ".join(dict.fromkeys(parts))
