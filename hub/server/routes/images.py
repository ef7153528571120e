"""Civitai API v1 images (`GET /api/v1/images`) and the preview files (`GET /media/...`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from starlette.responses import Response

from hub.server import api_schema
from hub.server.enums import BASE_MODELS, IMAGE_SORTS, NSFW_LEVEL_BITS, PERIODS
from hub.server.errors import not_found
from hub.server.openapi import json_ok, responses
from hub.server.params import (
    CursorQuery,
    PageQuery,
    check_choices,
    choice,
    decode_cursor,
    enum_list_query,
    enum_query,
    id_query,
    period_start,
    split_list,
)
from hub.server.records import ImageQuery
from hub.server.routes.common import ServedFile, hub_of, list_response
from hub.server.routes.paging import check_pages, list_metadata
from hub.server.store import NotFound

router = APIRouter(tags=["images"])
NSFW_CHOICES = ("true", "false", *NSFW_LEVEL_BITS)


def _max_nsfw_level(nsfw: str | None) -> int | None:
    if not nsfw or nsfw.lower() == "true":
        return None
    if nsfw.lower() == "false":
        return NSFW_LEVEL_BITS["None"]
    return NSFW_LEVEL_BITS[check_choices("nsfw", [nsfw], NSFW_LEVEL_BITS)[0]]


@router.get(
    "/api/v1/images",
    operation_id="listImages",
    responses=responses(400, 422, ok=json_ok(api_schema.ImageList, "a page of images")),
)
def list_images(
    request: Request,
    *,
    limit: Annotated[int, Query(ge=1, le=200, description="images per page (1-200)")] = 100,
    page: PageQuery = None,
    cursor: CursorQuery = None,
    model_id: Annotated[int | None, id_query("modelId", "this model's images")] = None,
    version_id: Annotated[int | None, id_query("modelVersionId", "this model version's images")] = None,
    post_id: Annotated[int | None, id_query("postId", "this post's images")] = None,
    image_id: Annotated[int | None, id_query("imageId", "this image")] = None,
    username: Annotated[str | None, Query(description="only this user's images")] = None,
    nsfw: Annotated[
        str | None, enum_query(NSFW_CHOICES, "true: all; false: safe only; a level: up to that level")
    ] = None,
    browsing_level: Annotated[
        int | None,
        Query(alias="browsingLevel", ge=1, le=31, description="bitmask of levels 1/2/4/8 (overrides nsfw)"),
    ] = None,
    base_models: Annotated[list[str], enum_list_query(BASE_MODELS, "only these base models", "baseModels")],
    sort: Annotated[str, enum_query(IMAGE_SORTS, "order")] = "Newest",
    period: Annotated[str, enum_query(PERIODS, "only images made in this window")] = "AllTime",
) -> Response:
    check_pages(page, cursor, limit)
    sort_name = choice("sort", sort, IMAGE_SORTS, "Newest")
    assert sort_name is not None
    q = ImageQuery(
        limit=limit,
        sort=sort_name,
        model_id=model_id,
        version_id=version_id,
        username=username or None,
        max_nsfw_level=_max_nsfw_level(nsfw),
        browsing_level=browsing_level,
        post_id=post_id,
        image_id=image_id,
        base_models=tuple(check_choices("baseModels", split_list(base_models), BASE_MODELS)),
        created_after=period_start(choice("period", period, PERIODS, "AllTime")),
        after=decode_cursor(cursor, sort_name) if cursor else None,
        offset=(page - 1) * limit if page is not None else None,
    )
    result = hub_of(request).store.list_images(q)
    metadata = list_metadata(request, sort_name, page, limit, result.last_key, result.total)
    return list_response(request, result.docs, metadata)


@router.get(
    "/media/{name}",
    operation_id="getMedia",
    responses=responses(
        400,
        404,
        416,
        ok={
            200: {
                "description": "the PNG",
                "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            },
            206: {"description": "the requested range of the PNG"},
        },
    ),
)
def media(
    name: Annotated[str, PathParam(description="<sha256>.png, as in an image's url")], request: Request
) -> Response:
    sha, _, ext = name.partition(".")
    if ext != "png" or len(sha) != 64 or any(c not in "0123456789abcdefABCDEF" for c in sha):
        raise not_found("Image not found")
    hub = hub_of(request)
    try:
        path = hub.store.media_path(sha)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    return ServedFile(
        hub.config.data_dir / path,
        media_type="image/png",
        headers={"Cache-Control": "public, max-age=31536000, immutable", "ETag": f'"{sha.lower()}"'},
    )
