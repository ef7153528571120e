"""`GET /api/v1/sync/changes`: the compacted change feed local mirrors sync from."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from hub.server import api_schema, features
from hub.server.documents import absolutize, dumps
from hub.server.errors import bad_request
from hub.server.openapi import json_ok, responses
from hub.server.routes.common import hub_of, json_text, origin_of
from hub.server.store import Change, User

router = APIRouter(tags=["sync"])
SINCE_PATTERN = "^[0-9]{0,18}$"


def parse_since(raw: str | None) -> int:
    if raw is None or raw == "":
        return 0
    if not raw.isdigit() or len(raw) > 18:
        raise bad_request(f"since: malformed cursor {raw[:40]!r}; pass nextCursor from the previous response")
    return int(raw)


@router.get(
    "/api/v1/sync/changes",
    operation_id="listChanges",
    responses=responses(400, ok=json_ok(api_schema.ChangeFeed, "the changes after `since`, oldest first")),
)
def changes(
    request: Request,
    since: Annotated[
        str | None,
        Query(
            description="nextCursor of the previous response (none: from the beginning)",
            json_schema_extra={"pattern": SINCE_PATTERN},
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="changes per response (1-1000)")] = 100,
) -> Response:
    since_seq = parse_since(since)
    hub = hub_of(request)
    items, more = hub.store.changes_since(since_seq, limit)
    shown = [c for c in items if _shown(hub.features, c, getattr(request.state, "user", None))]
    next_cursor = str(items[-1].seq) if items else str(since_seq)
    return feed_body(request, shown, next_cursor, more)


# Community entities leave the feed while their feature is switched off.
FEATURE_OF = {
    "article": features.ARTICLES,
    "collection": features.COLLECTIONS,
    "review": features.REVIEWS,
    "comment": features.REVIEWS,
    "cosmetics": "shop",  # a feature flag, not a `--disable-feature` name
}
NUMERIC_IDS = {"model", "article", "collection", "notification", "review", "comment"}


def _shown(gate: features.FeatureGate, change: Change, user: User | None) -> bool:
    feature = FEATURE_OF.get(change.entity)
    return feature is None or gate.enabled(feature, user)


def feed_body(request: Request, items: list[Change], next_cursor: str, more: bool) -> Response:
    """A feed page: `{"items": [{seq, entity, id, action, data}], "nextCursor", "hasMore"}`."""
    parts = []
    for c in items:
        entity_id = dumps(int(c.entity_id) if c.entity in NUMERIC_IDS else c.entity_id)
        data = c.data if c.data is not None else "null"
        parts.append(
            f'{{"seq":{c.seq},"entity":{dumps(c.entity)},"id":{entity_id},"action":{dumps(c.action)},"data":{data}}}'
        )
    body = '{"items":[' + ",".join(parts) + f'],"nextCursor":{dumps(next_cursor)},"hasMore":{dumps(more)}}}'
    return json_text(absolutize(body, origin_of(request)))
