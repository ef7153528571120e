"""Civitai API v1 read routes: models, versions, by-hash, images, creators, tags, enums, me."""

from __future__ import annotations

import json
import math
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response

from hub.server import documents
from hub.server.auth import require_user
from hub.server.enums import (
    BASE_MODELS,
    CHECKPOINT_TYPES,
    IMAGE_SORTS,
    MODEL_SORTS,
    MODEL_TYPES,
    NSFW_LEVEL_BITS,
    PERIODS,
    enums_document,
)
from hub.server.errors import ApiError, bad_request, not_found
from hub.server.hashing import normalize_hash
from hub.server.params import (
    check_choices,
    decode_cursor,
    encode_cursor,
    get_bool,
    get_choice,
    get_ids,
    get_int,
    get_list,
    period_start,
)
from hub.server.records import ImageQuery, ModelQuery
from hub.server.routes.common import hub_of, json_doc, json_text, list_response, origin_of, url_with, user_of
from hub.server.store import NotFound

router = APIRouter()
MAX_PAGED_ITEMS = 1000
TOO_MANY_PAGES = "You've requested too many pages, please use cursors instead"


def _paging(request: Request, default_limit: int, max_limit: int) -> tuple[int, int | None, str | None]:
    params = request.query_params
    limit = get_int(params, "limit", default_limit, 1, max_limit)
    assert limit is not None
    page = get_int(params, "page", None, 1)
    cursor = params.get("cursor") or None
    if page is not None and cursor is not None:
        raise bad_request("page and cursor cannot be combined; use one of them")
    if page is not None and page * limit > MAX_PAGED_ITEMS:
        raise ApiError(429, TOO_MANY_PAGES)
    return limit, page, cursor


def _metadata(request: Request, sort: str, page, limit, last_key, total) -> dict:
    if page is None:
        if last_key is None:
            return {}
        cursor = encode_cursor(sort, last_key)
        return {"nextCursor": cursor, "nextPage": url_with(request, cursor=cursor)}
    pages = math.ceil((total or 0) / limit)
    metadata = {"totalItems": total, "currentPage": page, "pageSize": limit, "totalPages": pages}
    if page < pages and page * limit < MAX_PAGED_ITEMS:
        metadata["nextPage"] = url_with(request, page=page + 1)
    if page > 1:
        metadata["prevPage"] = url_with(request, page=page - 1)
    return metadata


@router.get("/api/v1/models")
def list_models(request: Request) -> Response:
    params = request.query_params
    limit, page, cursor = _paging(request, 100, 100)
    query = params.get("query")
    if query is not None and page is not None:
        raise bad_request("Cannot use page param with query search. Use cursor-based pagination.")
    sort = get_choice(params, "sort", MODEL_SORTS, "Highest Rated")
    assert sort is not None
    period = get_choice(params, "period", PERIODS, "AllTime")
    checkpoint_type = get_choice(params, "checkpointType", CHECKPOINT_TYPES, None)
    nsfw = get_bool(params, "nsfw")
    primary_only = get_bool(params, "primaryFileOnly") or False
    q = ModelQuery(
        limit=limit,
        sort=sort,
        query=query,
        tag=params.get("tag") or None,
        username=params.get("username") or None,
        ids=get_ids(params, "ids"),
        types=tuple(check_choices("types", get_list(params, "types"), MODEL_TYPES)),
        base_models=tuple(check_choices("baseModels", get_list(params, "baseModels"), BASE_MODELS)),
        checkpoint_type=checkpoint_type,
        nsfw=None if nsfw else False,
        published_after=period_start(period),
        after=decode_cursor(cursor, sort) if cursor else None,
        offset=(page - 1) * limit if page is not None else None,
        primary_file_only=primary_only,
    )
    result = hub_of(request).store.list_models(q)
    docs = result.docs
    if primary_only:
        docs = [documents.dumps(_primary_only(json.loads(d))) for d in docs]
    return list_response(request, docs, _metadata(request, sort, page, limit, result.last_key, result.total))


def _primary_only(model: dict) -> dict:
    for version in model["modelVersions"]:
        version["files"] = [f for f in version["files"] if f["primary"]]
    return model


@router.get("/api/v1/models/{model_id}")
def get_model(model_id: int, request: Request) -> Response:
    try:
        doc = hub_of(request).store.model_doc(model_id)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    return json_text(documents.absolutize(doc, origin_of(request)))


def _version_response(request: Request, version_id: int, model_doc: str) -> Response:
    version = documents.standalone_version(json.loads(model_doc), version_id)
    if version is None:
        raise not_found(f"Model version not found: {version_id}")
    return json_doc(request, version)


@router.get("/api/v1/model-versions/by-hash/{hash_value}")
def version_by_hash(hash_value: str, request: Request) -> Response:
    try:
        normalized = normalize_hash(hash_value)
    except ValueError as exc:
        raise bad_request(f"hash: {exc}") from None
    found = hub_of(request).store.versions_by_hashes([normalized])
    if not found:
        raise not_found("Model not found")
    return _version_response(request, *found[0])


def _hash_list(body: object, limit: int) -> list[str]:
    if not isinstance(body, list) or not all(isinstance(h, str) for h in body):
        raise bad_request("body: expected a JSON array of hash strings")
    if len(body) > limit:
        raise bad_request(f"body: at most {limit} hashes per request")
    try:
        return [normalize_hash(h) for h in body]
    except ValueError as exc:
        raise bad_request(f"hashes: {exc}") from None


async def _json_body(request: Request) -> object:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        raise bad_request("body: not valid JSON") from None


@router.post("/api/v1/model-versions/by-hash")
async def versions_by_hash(request: Request) -> Response:
    hashes = _hash_list(await _json_body(request), 100)
    store = hub_of(request).store
    found = await run_in_threadpool(store.versions_by_hashes, hashes)
    items = [documents.standalone_version(json.loads(doc), vid) for vid, doc in found]
    return json_doc(request, [v for v in items if v is not None])


@router.post("/api/v1/model-versions/by-hash/ids")
async def version_ids_by_hash(request: Request) -> Response:
    hashes = _hash_list(await _json_body(request), 10_000)
    store = hub_of(request).store
    out = []
    for h in hashes:
        found = await run_in_threadpool(store.versions_by_hashes, [h])
        if found:
            out.append({"modelVersionId": found[0][0], "hash": h})
    return json_doc(request, out)


@router.get("/api/v1/model-versions/mini/{version_id}")
def get_version_mini(version_id: int, request: Request) -> Response:
    """The trimmed version Civitai serves to downloaders: names, primary file, hashes, URLs."""
    try:
        text = hub_of(request).store.version_model_doc(version_id)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    doc = json.loads(documents.absolutize(text, origin_of(request)))
    version = documents.standalone_version(doc, version_id)
    if version is None:
        raise not_found(f"Model version not found: {version_id}")
    primary = next(
        (f for f in version["files"] if f["primary"]), version["files"][0] if version["files"] else None
    )
    return json_doc(
        request,
        {
            "air": version["air"],
            "versionName": version["name"],
            "modelName": doc["name"],
            "baseModel": version["baseModel"],
            "availability": version["availability"],
            "publishedAt": version["publishedAt"],
            "size": primary["sizeKB"] if primary else None,
            "fileType": primary["type"] if primary else None,
            "fileName": primary["name"] if primary else None,
            "hashes": primary["hashes"] if primary else None,
            "format": primary["metadata"]["format"] if primary else None,
            "downloadUrls": [f["downloadUrl"] for f in version["files"]],
            "canGenerate": False,
            "requireAuth": False,
            "checkPermission": False,
            "earlyAccessEndsAt": None,
            "minor": doc["minor"],
            "sfwOnly": doc["sfwOnly"],
        },
    )


@router.get("/api/v1/model-versions/{version_id}")
def get_version(version_id: int, request: Request) -> Response:
    try:
        doc = hub_of(request).store.version_model_doc(version_id)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    return _version_response(request, version_id, doc)


@router.get("/api/v1/images")
def list_images(request: Request) -> Response:
    params = request.query_params
    limit, page, cursor = _paging(request, 100, 200)
    sort = get_choice(params, "sort", IMAGE_SORTS, "Newest")
    assert sort is not None
    period = get_choice(params, "period", PERIODS, "AllTime")
    nsfw = params.get("nsfw")
    max_level: int | None = None
    if not nsfw or nsfw.lower() == "true":
        max_level = None
    elif nsfw.lower() == "false":
        max_level = NSFW_LEVEL_BITS["None"]
    else:
        level = check_choices("nsfw", [nsfw], NSFW_LEVEL_BITS)[0]
        max_level = NSFW_LEVEL_BITS[level]
    q = ImageQuery(
        limit=limit,
        sort=sort,
        model_id=get_int(params, "modelId", None, 1),
        version_id=get_int(params, "modelVersionId", None, 1),
        username=params.get("username") or None,
        max_nsfw_level=max_level,
        browsing_level=get_int(params, "browsingLevel", None, 1, 31),
        post_id=get_int(params, "postId", None, 1),
        image_id=get_int(params, "imageId", None, 1),
        base_models=tuple(check_choices("baseModels", get_list(params, "baseModels"), BASE_MODELS)),
        created_after=period_start(period),
        after=decode_cursor(cursor, sort) if cursor else None,
        offset=(page - 1) * limit if page is not None else None,
    )
    result = hub_of(request).store.list_images(q)
    return list_response(
        request, result.docs, _metadata(request, sort, page, limit, result.last_key, result.total)
    )


def _page_list(request: Request, fetch) -> Response:
    params = request.query_params
    limit = get_int(params, "limit", 20, 1, 200)
    page = get_int(params, "page", 1, 1)
    assert limit is not None and page is not None
    if page * limit > MAX_PAGED_ITEMS:
        raise ApiError(429, TOO_MANY_PAGES)
    items, total = fetch(limit, (page - 1) * limit, params.get("query") or None)
    pages = math.ceil(total / limit)
    metadata: dict = {"totalItems": total, "currentPage": page, "pageSize": limit, "totalPages": pages}
    if page < pages and page * limit < MAX_PAGED_ITEMS:
        metadata["nextPage"] = url_with(request, page=page + 1)
    return list_response(request, [documents.dumps(i) for i in items], metadata)


@router.get("/api/v1/creators")
def list_creators(request: Request) -> Response:
    return _page_list(request, hub_of(request).store.list_creators)


@router.get("/api/v1/tags")
def list_tags(request: Request) -> Response:
    def fetch(limit: int, offset: int, query: str | None):
        items, total = hub_of(request).store.list_tags(limit, offset, query)
        for item in items:
            item["link"] = f"{origin_of(request)}/api/v1/models?{urlencode({'tag': item['name']})}"
        return items, total

    return _page_list(request, fetch)


@router.get("/api/v1/enums")
def enums() -> Response:
    return json_text(documents.dumps(enums_document()))


@router.get("/api/v1/users")
def lookup_users(request: Request) -> Response:
    """`GET /users?ids=1,2&query=prefix`: lean `{id, username}` lookups."""
    ids = get_ids(request.query_params, "ids")
    query = request.query_params.get("query") or None
    if not ids and not query:
        raise bad_request("ids or query: give one of them")
    return json_doc(request, {"items": hub_of(request).store.lookup_users(ids, query)})


@router.get("/api/v1/me")
def me(request: Request) -> Response:
    user = require_user(user_of(request))
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


@router.get("/media/{name}")
def media(name: str, request: Request) -> Response:
    sha, _, ext = name.partition(".")
    if ext != "png" or len(sha) != 64 or any(c not in "0123456789abcdefABCDEF" for c in sha):
        raise not_found("Image not found")
    hub = hub_of(request)
    try:
        path = hub.store.media_path(sha)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    return FileResponse(
        hub.config.data_dir / path,
        media_type="image/png",
        headers={"Cache-Control": "public, max-age=31536000, immutable", "ETag": f'"{sha.lower()}"'},
    )
