"""Leaderboards of creators: by downloads of their models and by Buzz received in tips.
Read through the cache (namespace `leaderboards`, invalidated by tips, uploads, deletions and
the stats refresh). Atelier's own route."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hub.server import community_schema as schema
from hub.server.openapi import json_ok, responses
from hub.server.routes.common import OPTIONAL_AUTH, Caller, hub_of, json_doc
from hub.server.routes.cosmetics import people_with_cosmetics

router = APIRouter(tags=["leaderboards"])
LEADERBOARD_CACHE_SECONDS = 60.0


@router.get(
    "/api/v1/leaderboards/creators",
    operation_id="getCreatorLeaderboard",
    openapi_extra=OPTIONAL_AUTH,
    responses=responses(400, 404, ok=json_ok(schema.Leaderboard, "creators, best first")),
)
async def creators(
    request: Request,
    user: Caller,
    by: Annotated[
        Literal["downloads", "buzz"], Query(description="rank by model downloads or Buzz received")
    ] = "downloads",
    limit: Annotated[int, Query(ge=1, le=100, description="how many")] = 20,
) -> Response:
    hub = hub_of(request)
    if by == "buzz":
        hub.require_flag("buzz", user)
    load = (
        (lambda: json.dumps(hub.store.buzz_leaderboard(limit)))
        if by == "buzz"
        else (lambda: json.dumps(hub.store.download_leaderboard(limit)))
    )
    text = await run_in_threadpool(
        hub.cache.get_or_load, "leaderboards", f"{by}:{limit}", LEADERBOARD_CACHE_SECONDS, load
    )
    items = json.loads(text)
    await run_in_threadpool(people_with_cosmetics, request, items)
    return json_doc(request, {"by": by, "items": items})
