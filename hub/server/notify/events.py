"""The event registry: one processor per event type, each turning an event into the
notifications of the users it concerns (a `FanOut` the store executes in one transaction).

Events are emitted by store writes as persisted jobs (`job_queue.emit_event`); the worker runs
the processor of the event's type. Other features add their events with `register`, e.g.
Buzz received or a purchase done (the type's name is also what users set preferences for).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hub.server.event_names import (
    ARTICLE_PUBLISHED,
    BUZZ_RECEIVED,
    COMMENT_RECEIVED,
    MODEL_VERSION_PUBLISHED,
    PURCHASE_DONE,
    REVIEW_RECEIVED,
)
from hub.server.store import NotFound, ServerStore
from hub.server.store.notifications import Channels, FanOut

# A processor reads names it needs from the store and returns the fan-out (None: nobody to tell).
Processor = Callable[[ServerStore, dict[str, Any]], FanOut | None]


class UnknownEvent(LookupError):
    """A job names an event type no processor is registered for (the job fails for good)."""


@dataclass(frozen=True)
class EventType:
    name: str
    category: str  # Civitai's notification categories: Update, Comment, Milestone, Buzz, System, Other
    description: str
    default: Channels  # channels for users who never set a preference for this type
    processor: Processor


class EventRegistry:
    def __init__(self) -> None:
        self._types: dict[str, EventType] = {}

    def register(self, event: EventType) -> None:
        if event.name in self._types:
            raise ValueError(f"event type {event.name!r} is registered already")
        self._types[event.name] = event

    def get(self, name: str) -> EventType:
        found = self._types.get(name)
        if found is None:
            raise UnknownEvent(f"no processor for event type {name!r}")
        return found

    def names(self) -> list[str]:
        return list(self._types)

    def types(self) -> list[EventType]:
        return list(self._types.values())

    def process(self, store: ServerStore, event_type: str, data: dict[str, Any]) -> int:
        """Run the processor of `event_type`; returns the notifications created."""
        spec = self.get(event_type).processor(store, data)
        return store.notifications.fan_out(spec) if spec is not None else 0


IN_APP_ONLY = Channels(in_app=True, email=False)


def _version_published(store: ServerStore, data: dict[str, Any]) -> FanOut:
    model_id, version_id, creator_id = int(data["modelId"]), int(data["versionId"]), int(data["creatorId"])
    users, names = store.notifications.names([creator_id], (model_id, version_id))
    model_name, version_name = names or (f"model {model_id}", None)
    creator = users.get(creator_id, "someone")
    if data.get("isNewModel"):
        message = f"{creator} published a new model: {model_name}"
    else:
        message = f"{creator} published {version_name or 'a new version'} of {model_name}"
    return FanOut(
        recipients="model-or-creator-followers",
        params={"model": model_id, "creator": creator_id},
        exclude_user=creator_id,
        type=MODEL_VERSION_PUBLISHED,
        category="Update",
        event_key=f"{MODEL_VERSION_PUBLISHED}:{version_id}",
        details={
            "message": message,
            "url": f"/api/v1/models/{model_id}",
            "modelId": model_id,
            "modelVersionId": version_id,
            "actor": {"id": creator_id, "username": creator},
        },
        default=IN_APP_ONLY,
    )


def _review_received(store: ServerStore, data: dict[str, Any]) -> FanOut | None:
    creator_id, author_id = int(data["creatorId"]), int(data["authorId"])
    model_id, version_id = int(data["modelId"]), int(data["modelVersionId"])
    users, names = store.notifications.names([author_id], (model_id, version_id))
    model_name, version_name = names or (f"model {model_id}", None)
    verdict = "recommends" if data.get("recommended") else "does not recommend"
    author = users.get(author_id, "someone")
    return FanOut(
        recipients="one-user",
        params={"user": creator_id},
        exclude_user=author_id,
        type=REVIEW_RECEIVED,
        category="Comment",
        event_key=f"{REVIEW_RECEIVED}:{data['reviewId']}",
        details={
            "message": f"{author} {verdict} {model_name} ({version_name})",
            "url": f"/api/v1/model-versions/{version_id}/reviews",
            "modelId": model_id,
            "modelVersionId": version_id,
            "reviewId": data["reviewId"],
            "actor": {"id": author_id, "username": author},
        },
        default=IN_APP_ONLY,
    )


def _comment_received(store: ServerStore, data: dict[str, Any]) -> FanOut | None:
    creator_id, author_id, model_id = int(data["creatorId"]), int(data["authorId"]), int(data["modelId"])
    users, names = store.notifications.names([author_id], (model_id, None))
    author = users.get(author_id, "someone")
    return FanOut(
        recipients="one-user",
        params={"user": creator_id},
        exclude_user=author_id,
        type=COMMENT_RECEIVED,
        category="Comment",
        event_key=f"{COMMENT_RECEIVED}:{data['commentId']}",
        details={
            "message": f"{author} commented on {names[0] if names else f'model {model_id}'}",
            "url": f"/api/v1/models/{model_id}/comments",
            "modelId": model_id,
            "commentId": data["commentId"],
            "actor": {"id": author_id, "username": author},
        },
        default=IN_APP_ONLY,
    )


def _article_published(store: ServerStore, data: dict[str, Any]) -> FanOut | None:
    author_id, article_id = int(data["authorId"]), int(data["articleId"])
    try:
        article = store.articles.document(article_id)
    except NotFound:
        return None  # deleted before its event ran: nobody to send to it
    if article["status"] != "Published":
        return None
    users, _ = store.notifications.names([author_id])
    author = users.get(author_id, "someone")
    return FanOut(
        recipients="user-followers",
        params={"creator": author_id},
        exclude_user=author_id,
        type=ARTICLE_PUBLISHED,
        category="Update",
        event_key=f"{ARTICLE_PUBLISHED}:{article_id}",
        details={
            "message": f"{author} published an article: {article['title']}",
            "url": f"/api/v1/articles/{article_id}",
            "articleId": article_id,
            "actor": {"id": author_id, "username": author},
        },
        default=IN_APP_ONLY,
    )


def _buzz_received(store: ServerStore, data: dict[str, Any]) -> FanOut:
    to_id, from_id, amount = int(data["toUserId"]), int(data["fromUserId"]), int(data["amount"])
    users, _ = store.notifications.names([from_id])
    sender = users.get(from_id, "someone")
    return FanOut(
        recipients="one-user",
        params={"user": to_id},
        exclude_user=from_id,
        type=BUZZ_RECEIVED,
        category="Buzz",
        event_key=f"{BUZZ_RECEIVED}:{data['transactionId']}",
        details={
            "message": f"{sender} tipped you {amount} Buzz",
            "url": "/api/v1/buzz/transactions",
            "amount": amount,
            "transactionId": data["transactionId"],
            "actor": {"id": from_id, "username": sender},
        },
        default=IN_APP_ONLY,
    )


def _purchase_done(store: ServerStore, data: dict[str, Any]) -> FanOut:
    return FanOut(
        recipients="one-user",
        params={"user": int(data["userId"])},
        exclude_user=None,
        type=PURCHASE_DONE,
        category="Buzz",
        event_key=f"{PURCHASE_DONE}:{data['transactionId']}",
        details={
            "message": f"You bought {data['itemName']} for {data['price']} Buzz",
            "url": "/api/v1/shop/owned",
            "itemId": data["itemId"],
            "transactionId": data["transactionId"],
        },
        default=IN_APP_ONLY,
    )


def default_registry() -> EventRegistry:
    """The event types of the community features built so far."""
    registry = EventRegistry()
    for event in (
        EventType(
            MODEL_VERSION_PUBLISHED,
            "Update",
            "a model you follow, or a creator you follow, published a new version or model",
            IN_APP_ONLY,
            _version_published,
        ),
        EventType(
            REVIEW_RECEIVED, "Comment", "someone reviewed one of your models", IN_APP_ONLY, _review_received
        ),
        EventType(
            COMMENT_RECEIVED,
            "Comment",
            "someone commented on one of your models",
            IN_APP_ONLY,
            _comment_received,
        ),
        EventType(
            ARTICLE_PUBLISHED,
            "Update",
            "someone you follow published an article",
            IN_APP_ONLY,
            _article_published,
        ),
        EventType(BUZZ_RECEIVED, "Buzz", "someone tipped you Buzz", IN_APP_ONLY, _buzz_received),
        EventType(
            PURCHASE_DONE,
            "Buzz",
            "your purchase in the cosmetic shop went through",
            IN_APP_ONLY,
            _purchase_done,
        ),
    ):
        registry.register(event)
    return registry
