"""Civitai API v1 people: creators, user lookups, and the caller (`/me`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from hub.server import api_schema, documents
from hub.server.errors import ApiError, bad_request
from hub.server.openapi import json_ok, responses
from hub.server.params import IdsQuery, PageNumber, parse_ids
from hub.server.routes.common import SignedIn, hub_of, json_doc, list_response
from hub.server.routes.paging import MAX_PAGED_ITEMS, TOO_MANY_PAGES, page_metadata

router = APIRouter(tags=["people"])


@router.get(
    "/api/v1/creators",
    operation_id="listCreators",
    responses=responses(400, ok=json_ok(api_schema.CreatorList, "a page of creators")),
)
def list_creators(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=200, description="creators per page (1-200)")] = 20,
    page: PageNumber = 1,
    query: Annotated[str | None, Query(description="only usernames containing this text")] = None,
) -> Response:
    if page * limit > MAX_PAGED_ITEMS:
        raise ApiError(429, TOO_MANY_PAGES)
    items, total = hub_of(request).store.list_creators(limit, (page - 1) * limit, query or None)
    metadata = page_metadata(request, page, limit, total)
    return list_response(request, [documents.dumps(i) for i in items], metadata)


@router.get(
    "/api/v1/users",
    operation_id="lookUpUsers",
    responses=responses(400, 422, ok=json_ok(api_schema.UserLookup, "the users found")),
)
def lookup_users(
    request: Request,
    ids: IdsQuery,
    query: Annotated[str | None, Query(description="username prefix")] = None,
) -> Response:
    """`GET /users?ids=1,2&query=prefix`: lean `{id, username}` lookups."""
    numbers = parse_ids("ids", ids)
    if not numbers and not query:
        raise bad_request("ids or query: give one of them")
    return json_doc(request, {"items": hub_of(request).store.lookup_users(numbers, query or None)})


@router.get(
    "/api/v1/me",
    operation_id="getMe",
    responses=responses(401, ok=json_ok(api_schema.Me, "the caller's account")),
)
def me(request: Request, user: SignedIn) -> Response:
    return json_doc(
        request,
        {
            "id": user.id,
            "username": user.username,
            "role": user.role,
            "tier": "free",
            "status": "active",
            "isMember": False,
            "subscriptions": [],
            "createdAt": user.created_at,
            "modelCount": user.model_count,
        },
    )
