"""Collections: Civitai's `GET /api/v1/collections` and `/collections/{id}` (public ones; a
private collection only for its owner, a 404 for anyone else), their items, and the owner's
routes to create, edit, fill and delete them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hub.server import features
from hub.server.auth import can_edit, require_user
from hub.server.errors import ApiError, bad_request, not_found
from hub.server.hub_server import HubServer
from hub.server.routes.common import hub_of, json_doc, list_response, user_of
from hub.server.routes.community_http import (
    INT64_MAX,
    BodyReader,
    CollectionId,
    ItemId,
    cursor_metadata,
    json_body,
    read_object,
    responses,
)
from hub.server.routes.cosmetics import texts_with_cosmetics, with_cosmetics
from hub.server.store import Conflict, NotFound, User
from hub.server.store.collections import COLLECTION_TYPES, CollectionQuery

router = APIRouter(
    tags=["collections"], dependencies=[Depends(features.require_feature(features.COLLECTIONS))]
)
READS = ("Public", "Private")
COLLECTION_FIELDS = {
    "name": {"type": "string", "minLength": 1, "maxLength": 100},
    "description": {"type": "string", "maxLength": 2000},
    "type": {"type": "string", "enum": list(COLLECTION_TYPES), "description": "what it collects (fixed)"},
    "read": {"type": "string", "enum": list(READS), "default": "Private"},
    "nsfw": {"type": "boolean"},
}


@router.get(
    "/api/v1/collections",
    operation_id="listCollections",
    summary="Public collections, newest first (with mine=true: the caller's own, private ones too)",
    responses=responses(400, 401, 422),
)
def list_collections(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    cursor: Annotated[
        int | None, Query(ge=1, le=INT64_MAX, description="metadata.nextCursor of the previous page (an id)")
    ] = None,
    query: Annotated[str | None, Query(max_length=100, description="part of the name")] = None,
    sort: Annotated[str, Query(json_schema_extra={"enum": ["Newest"]})] = "Newest",
    nsfw: Annotated[bool, Query(description="include mature collections")] = False,
    username: Annotated[str | None, Query(description="only this user's")] = None,
    mine: Annotated[bool, Query(description="the caller's own collections, private ones included")] = False,
) -> Response:
    if sort.lower() != "newest":
        raise bad_request(
            f"sort: {sort!r} is not supported (collections have no followers on this server); use Newest"
        )
    owner_id = require_user(user_of(request)).id if mine else None
    q = CollectionQuery(
        limit=limit,
        query=query or None,
        username=username or None,
        owner_id=owner_id,
        nsfw=nsfw or mine,
        after=cursor,
    )
    page = hub_of(request).store.collections.list(q)
    return list_response(
        request,
        texts_with_cosmetics(request, page.docs),
        cursor_metadata(request, page.last_key[1] if page.last_key else None),
    )


def _collection_response(request: Request, collection_id: int, status: int = 200) -> Response:
    doc = hub_of(request).store.collections.document(collection_id)
    with_cosmetics(request, [doc])
    return json_doc(request, doc, status)


def _readable(hub: HubServer, collection_id: int, user: User | None) -> int:
    """The owner's id; a private collection is a 404 for anyone but its owner (moderators too:
    private means private)."""
    try:
        owner, read = hub.store.collections.owner(collection_id)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    if read != "Public" and (user is None or user.id != owner):
        raise not_found(f"No collection with id {collection_id}")
    return owner


def _owned(hub: HubServer, user: User, collection_id: int) -> None:
    owner = _readable(hub, collection_id, user)
    if not can_edit(user, owner):
        raise ApiError(403, "Forbidden: only the collection's owner or a moderator can change it")


@router.get(
    "/api/v1/collections/{collectionId}",
    operation_id="getCollection",
    summary="One collection",
    responses=responses(400, 404, 422),
)
def get_collection(collection_id: CollectionId, request: Request) -> Response:
    hub = hub_of(request)
    _readable(hub, collection_id, user_of(request))
    return _collection_response(request, collection_id)


@router.get(
    "/api/v1/collections/{collectionId}/items",
    operation_id="listCollectionItems",
    summary="A collection's items, most recently added first",
    responses=responses(400, 404, 422),
)
def list_items(
    collection_id: CollectionId,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[int | None, Query(ge=1, le=INT64_MAX, description="metadata.nextCursor")] = None,
) -> Response:
    hub = hub_of(request)
    _readable(hub, collection_id, user_of(request))
    items, next_cursor = hub.store.collections.items(collection_id, limit, cursor)
    with_cosmetics(request, items)
    return json_doc(request, {"items": items, "metadata": cursor_metadata(request, next_cursor)})


def _collection_fields(body: dict[str, Any], creating: bool) -> dict[str, Any]:
    reader = BodyReader(body, list(COLLECTION_FIELDS))
    out: dict[str, Any] = {
        "name": reader.string("name", required=creating, low=1, high=100),
        "description": reader.string("description", high=2000),
        "read": reader.choice("read", READS),
        "nsfw": reader.boolean("nsfw"),
    }
    if creating:
        out["type"] = reader.choice("type", COLLECTION_TYPES, required=True)
    elif reader.has("type"):
        reader.fail("type: fixed when the collection is created")
    if not creating and not body:
        reader.fail("body: give at least one of name, description, read, nsfw")
    reader.done()
    return {k: v for k, v in out.items() if v is not None}


@router.post(
    "/api/v1/collections",
    operation_id="createCollection",
    summary="Create a collection (private unless read is Public)",
    status_code=201,
    responses=responses(400, 401, 409, 413, ok=201, description="the new collection"),
    openapi_extra=json_body(COLLECTION_FIELDS, ["name", "type"]),
)
async def create_collection(request: Request) -> Response:
    user = require_user(user_of(request))
    fields = _collection_fields(await read_object(request), creating=True)
    hub = hub_of(request)
    try:
        collection_id = await run_in_threadpool(
            hub.store.collections.create,
            user.id,
            fields["name"],
            fields.get("description", ""),
            fields["type"],
            fields.get("read", "Private"),
            fields.get("nsfw", False),
        )
    except Conflict as exc:
        raise ApiError(409, str(exc)) from None
    return _collection_response(request, collection_id, 201)


@router.patch(
    "/api/v1/collections/{collectionId}",
    operation_id="updateCollection",
    summary="Rename, describe, make public or private",
    responses=responses(400, 401, 403, 404, 409, 413, 422),
    openapi_extra=json_body({k: v for k, v in COLLECTION_FIELDS.items() if k != "type"}),
)
async def update_collection(collection_id: CollectionId, request: Request) -> Response:
    user = require_user(user_of(request))
    fields = _collection_fields(await read_object(request), creating=False)
    hub = hub_of(request)
    await run_in_threadpool(_owned, hub, user, collection_id)
    try:
        await run_in_threadpool(hub.store.collections.update, collection_id, fields)
    except Conflict as exc:
        raise ApiError(409, str(exc)) from None
    return _collection_response(request, collection_id)


@router.delete(
    "/api/v1/collections/{collectionId}",
    operation_id="deleteCollection",
    summary="Delete a collection (the collected things stay)",
    status_code=204,
    responses=responses(400, 401, 403, 404, 422, ok=204, description="deleted"),
)
def delete_collection(collection_id: CollectionId, request: Request) -> Response:
    user = require_user(user_of(request))
    hub = hub_of(request)
    _owned(hub, user, collection_id)
    hub.store.collections.delete(collection_id)
    return Response(status_code=204)


@router.post(
    "/api/v1/collections/{collectionId}/items",
    operation_id="addCollectionItem",
    summary="Collect a model, image or published article (by the collection's type)",
    status_code=201,
    responses=responses(
        400,
        401,
        403,
        404,
        413,
        422,
        ok=201,
        description="collected",
        also={200: "it was in the collection already"},
    ),
    openapi_extra=json_body({"itemId": {"type": "integer", "minimum": 1, "maximum": INT64_MAX}}, ["itemId"]),
)
async def add_item(collection_id: CollectionId, request: Request) -> Response:
    user = require_user(user_of(request))
    reader = BodyReader(await read_object(request), ["itemId"])
    item_id = reader.integer("itemId", required=True)
    reader.done()
    assert item_id is not None
    hub = hub_of(request)
    await run_in_threadpool(_owned, hub, user, collection_id)
    try:
        added = await run_in_threadpool(hub.store.collections.add_item, collection_id, item_id)
    except NotFound as exc:
        raise bad_request(str(exc)) from None
    return _collection_response(request, collection_id, 201 if added else 200)


@router.delete(
    "/api/v1/collections/{collectionId}/items/{itemId}",
    operation_id="removeCollectionItem",
    summary="Take an item out of a collection",
    status_code=204,
    responses=responses(400, 401, 403, 404, 422, ok=204, description="removed"),
)
def remove_item(collection_id: CollectionId, item_id: ItemId, request: Request) -> Response:
    user = require_user(user_of(request))
    hub = hub_of(request)
    _owned(hub, user, collection_id)
    try:
        hub.store.collections.remove_item(collection_id, item_id)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    return Response(status_code=204)
