"""An account's favourite models: `PUT`/`DELETE /api/v1/models/{id}/favorite`, listed by
`GET /api/v1/models?favorites=true`. Atelier's own routes (Civitai has no public API for it)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hub.server import api_schema
from hub.server.errors import not_found
from hub.server.openapi import json_ok, responses
from hub.server.params import ModelIdPath
from hub.server.routes.common import SignedIn, hub_of, json_doc
from hub.server.store import NotFound

router = APIRouter(tags=["favourites"])
FAVORITE_PATH = "/api/v1/models/{modelId}/favorite"


async def _set(request: Request, user_id: int, model_id: int, favorite: bool) -> Response:
    try:
        await run_in_threadpool(hub_of(request).store.set_favorite, user_id, model_id, favorite)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    return json_doc(request, {"modelId": model_id, "favorite": favorite})


@router.put(
    FAVORITE_PATH,
    operation_id="addFavorite",
    responses=responses(400, 401, 404, 422, ok=json_ok(api_schema.Favorite, "the model is a favourite")),
)
async def add_favorite(model_id: ModelIdPath, request: Request, user: SignedIn) -> Response:
    return await _set(request, user.id, model_id, True)


@router.delete(
    FAVORITE_PATH,
    operation_id="removeFavorite",
    responses=responses(
        400, 401, 404, 422, ok=json_ok(api_schema.Favorite, "the model is not a favourite (any more)")
    ),
)
async def remove_favorite(model_id: ModelIdPath, request: Request, user: SignedIn) -> Response:
    return await _set(request, user.id, model_id, False)
