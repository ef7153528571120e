"""Paging of the list routes: cursor or page, Civitai's 1,000-item cap on pages, metadata."""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request

from hub.server.errors import ApiError, bad_request
from hub.server.params import encode_cursor
from hub.server.routes.common import url_with

MAX_PAGED_ITEMS = 1000
TOO_MANY_PAGES = "You've requested too many pages, please use cursors instead"


def check_pages(page: int | None, cursor: str | None, limit: int) -> None:
    if page is not None and cursor:
        raise bad_request("page and cursor cannot be combined; use one of them")
    if page is not None and page * limit > MAX_PAGED_ITEMS:
        raise ApiError(429, TOO_MANY_PAGES)


def list_metadata(
    request: Request, sort: str, page: int | None, limit: int, last_key: Any, total: int | None
) -> dict[str, Any]:
    if page is None:
        if last_key is None:
            return {}
        cursor = encode_cursor(sort, last_key)
        return {"nextCursor": cursor, "nextPage": url_with(request, cursor=cursor)}
    return page_metadata(request, page, limit, total or 0)


def page_metadata(request: Request, page: int, limit: int, total: int) -> dict[str, Any]:
    pages = math.ceil(total / limit)
    metadata: dict[str, Any] = {
        "totalItems": total,
        "currentPage": page,
        "pageSize": limit,
        "totalPages": pages,
    }
    if page < pages and page * limit < MAX_PAGED_ITEMS:
        metadata["nextPage"] = url_with(request, page=page + 1)
    if page > 1:
        metadata["prevPage"] = url_with(request, page=page - 1)
    return metadata
