"""Civitai API v1 catalog routes: models, model versions, lookups by hash, tags, enums."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Query, Request
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hub.server import api_schema, documents
from hub.server.auth import require_user
from hub.server.enums import BASE_MODELS, CHECKPOINT_TYPES, MODEL_SORTS, MODEL_TYPES, PERIODS, enums_document
from hub.server.errors import ApiError, bad_request, not_found
from hub.server.hashing import normalize_hash
from hub.server.openapi import json_ok, responses
from hub.server.params import (
    CursorQuery,
    IdsQuery,
    ModelIdPath,
    PageNumber,
    PageQuery,
    SearchQuery,
    VersionIdPath,
    check_choices,
    choice,
    decode_cursor,
    enum_list_query,
    enum_query,
    parse_ids,
    period_start,
    split_list,
)
from hub.server.records import ModelQuery
from hub.server.routes.common import (
    OPTIONAL_AUTH,
    Caller,
    hub_of,
    json_doc,
    json_text,
    list_response,
    origin_of,
)
from hub.server.routes.cosmetics import with_cosmetics
from hub.server.routes.paging import (
    MAX_PAGED_ITEMS,
    TOO_MANY_PAGES,
    check_pages,
    list_metadata,
    page_metadata,
)
from hub.server.store import NotFound

MODEL_CACHE_SECONDS = 60.0

router = APIRouter(tags=["catalog"])
HashPath = Annotated[
    str, PathParam(alias="hash", description="SHA256, AutoV1, AutoV2, AutoV3, CRC32 or BLAKE3 (any case)")
]


@router.get(
    "/api/v1/models",
    operation_id="listModels",
    responses=responses(400, 401, 422, ok=json_ok(api_schema.ModelList, "a page of models")),
    openapi_extra=OPTIONAL_AUTH,
)
def list_models(
    request: Request,
    caller: Caller,
    *,
    limit: Annotated[int, Query(ge=1, le=100, description="models per page (1-100)")] = 100,
    page: PageQuery = None,
    cursor: CursorQuery = None,
    query: SearchQuery = None,
    tag: Annotated[str | None, Query(description="only models with this tag")] = None,
    username: Annotated[str | None, Query(description="only this creator's models")] = None,
    ids: IdsQuery,
    types: Annotated[list[str], enum_list_query(MODEL_TYPES, "only these model types")],
    base_models: Annotated[
        list[str],
        enum_list_query(BASE_MODELS, "only models with a version on these base models", "baseModels"),
    ],
    checkpoint_type: Annotated[
        str | None, enum_query(CHECKPOINT_TYPES, "only checkpoints of this kind", "checkpointType")
    ] = None,
    sort: Annotated[str, enum_query(MODEL_SORTS, "order")] = "Highest Rated",
    period: Annotated[str, enum_query(PERIODS, "only models published in this window")] = "AllTime",
    nsfw: Annotated[
        bool, Query(description="include NSFW models (hidden by default, as on Civitai)")
    ] = False,
    primary_file_only: Annotated[
        bool, Query(alias="primaryFileOnly", description="list only each version's primary file")
    ] = False,
    favorites: Annotated[
        bool, Query(description="only the caller's favourite models (needs an API key)")
    ] = False,
) -> Response:
    check_pages(page, cursor, limit)
    if query is not None and page is not None:
        raise bad_request("Cannot use page param with query search. Use cursor-based pagination.")
    if favorites:
        caller = require_user(caller, getattr(request.state, "anonymous_because", None))
    sort_name = choice("sort", sort, MODEL_SORTS, "Highest Rated")
    assert sort_name is not None
    q = ModelQuery(
        limit=limit,
        sort=sort_name,
        query=query,
        tag=tag or None,
        username=username or None,
        ids=parse_ids("ids", ids),
        types=tuple(check_choices("types", split_list(types), MODEL_TYPES)),
        base_models=tuple(check_choices("baseModels", split_list(base_models), BASE_MODELS)),
        checkpoint_type=choice("checkpointType", checkpoint_type, CHECKPOINT_TYPES, None),
        nsfw=None if nsfw else False,
        published_after=period_start(choice("period", period, PERIODS, "AllTime")),
        after=decode_cursor(cursor, sort_name) if cursor else None,
        offset=(page - 1) * limit if page is not None else None,
        primary_file_only=primary_file_only,
        favorites_of=caller.id if favorites and caller else None,
    )
    result = hub_of(request).store.list_models(q)
    docs = result.docs
    if primary_file_only:
        docs = [documents.dumps(_primary_only(json.loads(d))) for d in docs]
    metadata = list_metadata(request, sort_name, page, limit, result.last_key, result.total)
    return list_response(request, docs, metadata)


def _primary_only(model: dict) -> dict:
    for version in model["modelVersions"]:
        version["files"] = [f for f in version["files"] if f["primary"]]
    return model


@router.get(
    "/api/v1/models/{modelId}",
    operation_id="getModel",
    responses=responses(400, 404, 422, ok=json_ok(api_schema.Model, "the model")),
)
def get_model(model_id: ModelIdPath, request: Request) -> Response:
    """Read through the cache (namespace `models`, invalidated by every committed store write).
    The cached document is exactly the change feed's (mirrors compare them); the creator's
    cosmetics are added on the way out (`routes/cosmetics.py`), as the feed carries them apart."""
    hub = hub_of(request)
    try:
        # keyed by the change feed's position too: a write by any process (every model write
        # appends to the feed) makes the next read miss, with or without Redis
        key = f"{model_id}@{hub.store.feed_position()}"
        doc = hub.cache.get_or_load("models", key, MODEL_CACHE_SECONDS, lambda: hub.store.model_doc(model_id))
    except NotFound as exc:
        raise not_found(str(exc)) from None
    model = json.loads(doc)
    with_cosmetics(request, [model])
    return json_text(documents.absolutize(documents.dumps(model), origin_of(request)))


def _version_response(request: Request, version_id: int, model_doc: str) -> Response:
    version = documents.standalone_version(json.loads(model_doc), version_id)
    if version is None:
        raise not_found(f"Model version not found: {version_id}")
    return json_doc(request, version)


@router.get(
    "/api/v1/model-versions/by-hash/{hash}",
    operation_id="getModelVersionByHash",
    responses=responses(400, 404, ok=json_ok(api_schema.StandaloneVersion, "the version holding that file")),
)
def version_by_hash(hash_value: HashPath, request: Request) -> Response:
    try:
        normalized = normalize_hash(hash_value)
    except ValueError as exc:
        raise bad_request(f"hash: {exc}") from None
    found = hub_of(request).store.versions_by_hashes([normalized])
    if not found:
        raise not_found("Model not found")
    return _version_response(request, *found[0])


def _normalized(hashes: list[str]) -> list[str]:
    try:
        return [normalize_hash(h) for h in hashes]
    except ValueError as exc:
        raise bad_request(f"body: {exc}") from None


@router.post(
    "/api/v1/model-versions/by-hash",
    operation_id="getModelVersionsByHashes",
    responses=responses(
        400,
        ok=json_ok(list[api_schema.StandaloneVersion], "the versions found (unmatched hashes are left out)"),
    ),
)
async def versions_by_hash(
    request: Request,
    hashes: Annotated[list[str], Body(max_length=100, description="up to 100 hashes of any kind")],
) -> Response:
    store = hub_of(request).store
    found = await run_in_threadpool(store.versions_by_hashes, _normalized(hashes))
    items = [documents.standalone_version(json.loads(doc), vid) for vid, doc in found]
    return json_doc(request, [v for v in items if v is not None])


@router.post(
    "/api/v1/model-versions/by-hash/ids",
    operation_id="getModelVersionIdsByHashes",
    responses=responses(
        400,
        ok=json_ok(list[api_schema.VersionIdByHash], "the version id of each hash found"),
    ),
)
async def version_ids_by_hash(
    request: Request,
    hashes: Annotated[list[str], Body(max_length=10_000, description="up to 10,000 hashes of any kind")],
) -> Response:
    store = hub_of(request).store
    out = []
    for h in _normalized(hashes):
        found = await run_in_threadpool(store.versions_by_hashes, [h])
        if found:
            out.append({"modelVersionId": found[0][0], "hash": h})
    return json_doc(request, out)


@router.get(
    "/api/v1/model-versions/mini/{modelVersionId}",
    operation_id="getModelVersionMini",
    responses=responses(400, 404, 422, ok=json_ok(api_schema.VersionMini, "the trimmed version")),
)
def get_version_mini(version_id: VersionIdPath, request: Request) -> Response:
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


@router.get(
    "/api/v1/model-versions/{modelVersionId}",
    operation_id="getModelVersion",
    responses=responses(400, 404, 422, ok=json_ok(api_schema.StandaloneVersion, "the version")),
)
def get_version(version_id: VersionIdPath, request: Request) -> Response:
    try:
        doc = hub_of(request).store.version_model_doc(version_id)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    return _version_response(request, version_id, doc)


@router.get(
    "/api/v1/tags",
    operation_id="listTags",
    responses=responses(400, ok=json_ok(api_schema.TagList, "a page of tags, most used first")),
)
def list_tags(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=200, description="tags per page (1-200)")] = 20,
    page: PageNumber = 1,
    query: Annotated[str | None, Query(description="only tags containing this text")] = None,
) -> Response:
    if page * limit > MAX_PAGED_ITEMS:
        raise ApiError(429, TOO_MANY_PAGES)
    items, total = hub_of(request).store.list_tags(limit, (page - 1) * limit, query or None)
    for item in items:
        item["link"] = f"{origin_of(request)}/api/v1/models?{urlencode({'tag': item['name']})}"
    metadata = page_metadata(request, page, limit, total)
    return list_response(request, [documents.dumps(i) for i in items], metadata)


@router.get(
    "/api/v1/enums",
    operation_id="getEnums",
    responses=responses(ok=json_ok(dict[str, list[str]], "every enum's values, by enum name")),
)
def enums() -> Response:
    return json_text(documents.dumps(enums_document()))
