"""Follows (models and creators), notifications (list, read / unread, mark all read) and their
preferences: per notification type, in-app and email each on or off (both off: none), an email
address, and a daily digest instead of one email per notification."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hub.server import features
from hub.server.auth import require_user
from hub.server.errors import not_found
from hub.server.hub_server import HubServer
from hub.server.routes.common import hub_of, json_doc, user_of
from hub.server.routes.community_http import (
    INT64_MAX,
    NO_BODY,
    BodyReader,
    ModelId,
    NotificationId,
    UserId,
    cursor_metadata,
    json_body,
    read_object,
    responses,
)
from hub.server.store import NotFound
from hub.server.store.notifications import Channels

router = APIRouter(
    tags=["notifications"], dependencies=[Depends(features.require_feature(features.NOTIFICATIONS))]
)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DIGESTS = ("off", "daily")


# -- follows ----------------------------------------------------------------------------------------
@router.get(
    "/api/v1/follows",
    operation_id="listMyFollows",
    summary="The models and creators the caller follows",
    responses=responses(401),
)
def list_follows(request: Request) -> Response:
    user = require_user(user_of(request))
    return json_doc(request, hub_of(request).store.notifications.follows_of(user.id))


def _follow(request: Request, target_type: str, target_id: int, on: bool) -> Response:
    user = require_user(user_of(request))
    store = hub_of(request).store.notifications
    try:
        if on:
            created = store.follow(user.id, target_type, target_id)
        else:
            store.unfollow(user.id, target_type, target_id)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    if not on:
        return Response(status_code=204)
    body = {
        "following": True,
        target_type + "Id": target_id,
        "followers": store.follower_count(target_type, target_id),
    }
    return json_doc(request, body, 201 if created else 200)


@router.put(
    "/api/v1/follows/models/{modelId}",
    operation_id="followModel",
    openapi_extra=NO_BODY,
    summary="Follow a model (its new versions notify you); 201 when new",
    responses=responses(400, 401, 404, 422, description="already followed", also={201: "followed now"}),
)
def follow_model(model_id: ModelId, request: Request) -> Response:
    return _follow(request, "model", model_id, True)


@router.delete(
    "/api/v1/follows/models/{modelId}",
    operation_id="unfollowModel",
    summary="Stop following a model",
    status_code=204,
    responses=responses(400, 401, 404, 422, ok=204, description="unfollowed"),
)
def unfollow_model(model_id: ModelId, request: Request) -> Response:
    return _follow(request, "model", model_id, False)


@router.put(
    "/api/v1/follows/users/{userId}",
    operation_id="followUser",
    openapi_extra=NO_BODY,
    summary="Follow a creator (their new models, versions and articles notify you); 201 when new",
    responses=responses(400, 401, 404, 422, description="already followed", also={201: "followed now"}),
)
def follow_user(user_id: UserId, request: Request) -> Response:
    return _follow(request, "user", user_id, True)


@router.delete(
    "/api/v1/follows/users/{userId}",
    operation_id="unfollowUser",
    summary="Stop following a creator",
    status_code=204,
    responses=responses(400, 401, 404, 422, ok=204, description="unfollowed"),
)
def unfollow_user(user_id: UserId, request: Request) -> Response:
    return _follow(request, "user", user_id, False)


# -- notifications ----------------------------------------------------------------------------------
@router.get(
    "/api/v1/notifications",
    operation_id="listNotifications",
    summary="The caller's in-app notifications, newest first, with the unread count",
    responses=responses(400, 401, 422),
)
def list_notifications(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[int | None, Query(ge=1, le=INT64_MAX, description="metadata.nextCursor")] = None,
    unread: Annotated[bool, Query(description="only unread ones")] = False,
) -> Response:
    user = require_user(user_of(request))
    items, next_cursor, unread_count = hub_of(request).store.notifications.list(
        user.id, limit, cursor, unread
    )
    return json_doc(
        request,
        {"items": items, "unreadCount": unread_count, "metadata": cursor_metadata(request, next_cursor)},
    )


def _mark(request: Request, notification_id: int, read: bool) -> Response:
    user = require_user(user_of(request))
    try:
        doc = hub_of(request).store.notifications.mark(user.id, notification_id, read)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    return json_doc(request, doc)


@router.post(
    "/api/v1/notifications/{notificationId}/read",
    operation_id="markNotificationRead",
    openapi_extra=NO_BODY,
    summary="Mark one notification read",
    responses=responses(400, 401, 404, 422),
)
def mark_read(notification_id: NotificationId, request: Request) -> Response:
    return _mark(request, notification_id, True)


@router.post(
    "/api/v1/notifications/{notificationId}/unread",
    operation_id="markNotificationUnread",
    openapi_extra=NO_BODY,
    summary="Mark one notification unread again",
    responses=responses(400, 401, 404, 422),
)
def mark_unread(notification_id: NotificationId, request: Request) -> Response:
    return _mark(request, notification_id, False)


@router.post(
    "/api/v1/notifications/read-all",
    operation_id="markAllNotificationsRead",
    openapi_extra=NO_BODY,
    summary="Mark every notification of the caller read",
    responses=responses(401),
)
def mark_all(request: Request) -> Response:
    user = require_user(user_of(request))
    count = hub_of(request).store.notifications.mark_all_read(user.id)
    return json_doc(request, {"marked": count})


@router.get(
    "/api/v1/notifications/types",
    operation_id="listNotificationTypes",
    summary="The notification types (one per event type) and their default channels",
)
def notification_types(request: Request) -> Response:
    return json_doc(request, {"items": [_type_document(t) for t in hub_of(request).registry.types()]})


def _type_document(event: Any) -> dict[str, Any]:
    return {
        "type": event.name,
        "category": event.category,
        "description": event.description,
        "default": {"inApp": event.default.in_app, "email": event.default.email},
    }


def _preferences(hub: HubServer, user_id: int) -> dict[str, Any]:
    stored, delivery = hub.store.notifications.preferences(user_id)
    types = {}
    for event in hub.registry.types():
        channels = stored.get(event.name, event.default)
        types[event.name] = {"inApp": channels.in_app, "email": channels.email}
    return {
        "email": delivery.email,
        "digest": delivery.digest,
        "emailAvailable": hub.config.smtp_host is not None,
        "types": types,
    }


@router.get(
    "/api/v1/notifications/preferences",
    operation_id="getNotificationPreferences",
    summary="The caller's channels per notification type, email address and digest choice",
    responses=responses(401),
)
def get_preferences(request: Request) -> Response:
    user = require_user(user_of(request))
    return json_doc(request, _preferences(hub_of(request), user.id))


CHANNELS_SCHEMA = {
    "type": "object",
    "properties": {"inApp": {"type": "boolean"}, "email": {"type": "boolean"}},
    "description": "both false: none",
}


@router.put(
    "/api/v1/notifications/preferences",
    operation_id="setNotificationPreferences",
    summary="Change channels per type, the email address or the digest (only what is given)",
    responses=responses(400, 401, 413),
    openapi_extra=json_body(
        {
            "email": {
                "type": ["string", "null"],
                "description": "where email notifications go; null removes it",
            },
            "digest": {"type": "string", "enum": list(DIGESTS), "description": "daily: one email a day"},
            "types": {"type": "object", "additionalProperties": CHANNELS_SCHEMA},
        }
    ),
)
async def set_preferences(request: Request) -> Response:
    user = require_user(user_of(request))
    hub = hub_of(request)
    body = await read_object(request)
    reader = BodyReader(body, ["email", "digest", "types"])
    stored, delivery = await run_in_threadpool(hub.store.notifications.preferences, user.id)
    email = delivery.email
    if reader.has("email"):
        raw = body["email"]
        if raw is None:
            email = None
        elif isinstance(raw, str) and EMAIL.match(raw.strip()) and len(raw) <= 254:
            email = raw.strip()
        else:
            reader.fail(f"email: expected an address like name@example.org or null, got {raw!r}")
    digest = reader.choice("digest", DIGESTS) or delivery.digest
    changes: dict[str, Channels] = {}
    types = body.get("types", {})
    if not isinstance(types, dict):
        reader.fail("types: expected an object of type -> {inApp, email}")
        types = {}
    known = {t.name: t for t in hub.registry.types()}
    for name, value in types.items():
        if name not in known:
            reader.fail(f"types.{name}: unknown type; known: {', '.join(known)}")
            continue
        current = stored.get(name, known[name].default)
        if (
            not isinstance(value, dict)
            or set(value) - {"inApp", "email"}
            or not all(isinstance(v, bool) for v in value.values())
        ):
            reader.fail(f'types.{name}: expected {{"inApp": true|false, "email": true|false}}')
            continue
        changes[name] = Channels(value.get("inApp", current.in_app), value.get("email", current.email))
    wants_email = [n for n, c in {**stored, **changes}.items() if c.email and n in known]
    if any(c.email for c in changes.values()) and hub.config.smtp_host is None:
        reader.fail(
            "types: email notifications are unavailable: this hub server has no SMTP server configured"
        )
    elif wants_email and email is None:
        reader.fail(f"email: an address is needed for email notifications ({', '.join(sorted(wants_email))})")
    reader.done()
    await run_in_threadpool(hub.store.notifications.set_preferences, user.id, changes, email, digest)
    return json_doc(request, _preferences(hub, user.id))
