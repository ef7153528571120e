"""Request parameters: their declarations (what the OpenAPI document shows) and their parsing.

Routes declare each query and path parameter with the annotated types below, so FastAPI both
documents and type-checks them; what FastAPI's types cannot express (Civitai's comma-joined
lists, enum values matched in any case, cursors) is parsed by the functions here. Every error
names its parameter: 400 for bad input; 422 for an id that is a well-formed integer outside the
signed 64-bit range the database can hold (`IdOutOfRange`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Path, Query

import sqlitedb
from hub.server.documents import iso
from hub.server.enums import PERIOD_DAYS
from hub.server.errors import ApiError, bad_request

INT64_MIN = sqlitedb.MIN_INTEGER
INT64_MAX = sqlitedb.MAX_INTEGER
MAX_IDS = 100


def id_out_of_range(name: str, value: int) -> ApiError:
    side, bound = (
        ("above", f"at most {INT64_MAX}") if value > INT64_MAX else ("below", f"at least {INT64_MIN}")
    )
    return ApiError(422, f"{name}: {value} is {side} the signed 64-bit range of ids ({bound})")


# -- declarations -------------------------------------------------------------------------------
# The id parameters (path and query); their range errors are 422 (see app.validation_error).
ID_PARAMETERS = frozenset({"modelId", "modelVersionId", "keyId", "postId", "imageId"})


def _path_id(name: str, what: str) -> Any:
    # The range is the database's; an id outside it is a 422 (see app.validation_error).
    return Path(alias=name, ge=INT64_MIN, le=INT64_MAX, description=f"the {what}'s id")


ModelIdPath = Annotated[int, _path_id("modelId", "model")]
VersionIdPath = Annotated[int, _path_id("modelVersionId", "model version")]
KeyIdPath = Annotated[int, _path_id("keyId", "API key")]


def id_query(alias: str, what: str) -> Any:
    """An id filter: positive, within the signed 64-bit range."""
    return Query(alias=alias, ge=1, le=INT64_MAX, description=f"only {what}")


def enum_query(choices: Iterable[str], description: str, alias: str | None = None) -> Any:
    """A string query parameter documented with its values (matched in any case)."""
    return Query(
        alias=alias, description=f"{description} (any case)", json_schema_extra={"enum": list(choices)}
    )


def enum_list_query(choices: Iterable[str], description: str, alias: str | None = None) -> Any:
    """A list of enum values, repeated (`types=A&types=B`) or comma-joined (`types=A,B`)."""
    return Query(
        default_factory=list,
        alias=alias,
        description=f"{description}; repeated or comma-joined, any case",
        json_schema_extra={"items": {"type": "string", "enum": list(choices)}},
    )


IdsQuery = Annotated[
    list[str],
    Query(
        default_factory=list,
        description=f"ids, repeated or comma-joined (at most {MAX_IDS})",
        json_schema_extra={"items": {"type": "integer", "minimum": 1, "maximum": INT64_MAX}},
    ),
]
# No upper bound: past page 1000 / limit a page is a 429 (too many pages), never an offset.
PageQuery = Annotated[int | None, Query(ge=1, description="page number (offset paging)")]
PageNumber = Annotated[int, Query(ge=1, description="page number")]
CursorQuery = Annotated[
    str | None, Query(description="metadata.nextCursor of the previous page (cursor paging)")
]
SearchQuery = Annotated[str | None, Query(description="search words (prefix match)")]


# -- parsing ------------------------------------------------------------------------------------
def split_list(values: Iterable[str]) -> list[str]:
    """A list parameter given repeated (`types=A&types=B`) or comma-joined (`types=A,B`)."""
    out: list[str] = []
    for raw in values:
        out += [v.strip() for v in raw.split(",") if v.strip()]
    return out


def choice(name: str, raw: str | None, choices: Iterable[str], default: str | None) -> str | None:
    if raw is None or raw == "":
        return default
    return check_choices(name, [raw], choices)[0]


def check_choices(name: str, values: list[str], choices: Iterable[str]) -> list[str]:
    """Match values to an enum case-insensitively; unknown ones are a 400 naming them."""
    by_lower = {c.lower(): c for c in choices}
    out = []
    for value in values:
        match = by_lower.get(value.lower())
        if match is None:
            raise bad_request(
                f"{name}: unknown value {value!r}; expected one of: {', '.join(by_lower.values())}"
            )
        out.append(match)
    return out


def parse_ids(name: str, raw: Iterable[str]) -> tuple[int, ...]:
    out = []
    for value in split_list(raw):
        try:
            number = int(value)
        except ValueError:
            raise bad_request(f"{name}: expected comma-separated integers, got {value[:40]!r}") from None
        if number > INT64_MAX:
            raise id_out_of_range(name, number)
        if number < 1:
            raise bad_request(f"{name}: ids must be positive, got {number}")
        out.append(number)
    if len(out) > MAX_IDS:
        raise bad_request(f"{name}: at most {MAX_IDS} ids")
    return tuple(out)


def period_start(period: str | None, now: datetime | None = None) -> str | None:
    days = PERIOD_DAYS.get(period or "AllTime")
    if days is None:
        return None
    return iso((now or datetime.now(UTC)) - timedelta(days=days))


def encode_cursor(sort: str, key: tuple[Any, int]) -> str:
    raw = json.dumps([sort, key[0], key[1]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MALFORMED_CURSOR = "cursor: malformed cursor; pass metadata.nextCursor from the previous page"


def decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    """Keyset position from a cursor made by `encode_cursor` for the same sort; 400 otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sort_name, value, last_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise bad_request(MALFORMED_CURSOR) from None
    if not isinstance(last_id, int) or isinstance(last_id, bool) or not isinstance(value, (int, float, str)):
        raise bad_request(MALFORMED_CURSOR)
    # A cursor is opaque: one this server did not make (ids or sort values SQLite cannot hold)
    # is malformed, not an id out of range.
    if isinstance(value, bool) or not INT64_MIN <= last_id <= INT64_MAX:
        raise bad_request(MALFORMED_CURSOR)
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        raise bad_request(MALFORMED_CURSOR)
    if sort_name != sort:
        raise bad_request(f"cursor: was made for sort {sort_name!r}, not {sort!r}")
    return value, last_id
