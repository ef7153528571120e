"""Query-parameter parsing with errors that name the parameter (400, never 422)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.datastructures import QueryParams

from hub.server.documents import iso
from hub.server.enums import PERIOD_DAYS
from hub.server.errors import bad_request

TRUE = {"true", "1", "yes"}
FALSE = {"false", "0", "no"}


def get_int(
    params: QueryParams, name: str, default: int | None, low: int, high: int | None = None
) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name}: expected an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise bad_request(f"{name}: must be {bound}, got {value}")
    return value


def get_bool(params: QueryParams, name: str) -> bool | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in TRUE:
        return True
    if raw.lower() in FALSE:
        return False
    raise bad_request(f"{name}: expected true or false, got {raw!r}")


def get_list(params: QueryParams, name: str) -> list[str]:
    """A list parameter given repeated (`types=A&types=B`) or comma-joined (`types=A,B`)."""
    values: list[str] = []
    for raw in params.getlist(name):
        values += [v.strip() for v in raw.split(",") if v.strip()]
    return values


def get_choice(params: QueryParams, name: str, choices: Iterable[str], default: str | None) -> str | None:
    raw = params.get(name)
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


def get_ids(params: QueryParams, name: str) -> tuple[int, ...]:
    out = []
    for value in get_list(params, name):
        try:
            number = int(value)
        except ValueError:
            raise bad_request(f"{name}: expected comma-separated integers, got {value!r}") from None
        if number < 1:
            raise bad_request(f"{name}: ids must be positive, got {number}")
        out.append(number)
    if len(out) > 100:
        raise bad_request(f"{name}: at most 100 ids")
    return tuple(out)


def period_start(period: str | None, now: datetime | None = None) -> str | None:
    days = PERIOD_DAYS.get(period or "AllTime")
    if days is None:
        return None
    return iso((now or datetime.now(UTC)) - timedelta(days=days))


def encode_cursor(sort: str, key: tuple[Any, int]) -> str:
    raw = json.dumps([sort, key[0], key[1]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    """Keyset position from a cursor made by `encode_cursor` for the same sort; 400 otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sort_name, value, last_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise bad_request(
            "cursor: malformed cursor; pass metadata.nextCursor from the previous page"
        ) from None
    if not isinstance(last_id, int) or isinstance(last_id, bool) or not isinstance(value, (int, float, str)):
        raise bad_request("cursor: malformed cursor; pass metadata.nextCursor from the previous page")
    if sort_name != sort:
        raise bad_request(f"cursor: was made for sort {sort_name!r}, not {sort!r}")
    return value, last_id
