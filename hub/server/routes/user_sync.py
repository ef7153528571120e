"""`GET /api/v1/sync/mine`: the caller's private change feed (their notifications and their own
collections, private ones included), in the shape of the public feed. A local hub syncing with
an API key pulls it after the public one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from hub.server import features
from hub.server.auth import require_user
from hub.server.routes.common import hub_of, user_of
from hub.server.routes.community_http import responses
from hub.server.routes.sync import feed_body, parse_since

router = APIRouter(tags=["sync"])
FEATURE_OF = {"notification": features.NOTIFICATIONS, "collection": features.COLLECTIONS}


@router.get(
    "/api/v1/sync/mine",
    operation_id="listMyChanges",
    summary="The caller's private feed: notifications and own collections, compacted, in commit order",
    responses=responses(400, 401),
)
def my_changes(
    request: Request,
    since: Annotated[str | None, Query(description="nextCursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    user = require_user(user_of(request))
    hub = hub_of(request)
    cursor = parse_since(since)
    items, more = hub.store.notifications.changes_since(user.id, cursor, limit)
    shown = [c for c in items if hub.features.enabled(FEATURE_OF.get(c.entity, ""), user)]
    next_cursor = str(items[-1].seq) if items else str(cursor)
    return feed_body(request, shown, next_cursor, more)
