"""Civitai-shaped JSON of the community entities (articles, collections, reviews, comments,
notifications), built from plain row dicts: no SQL, no HTTP here.

URLs are relative ("/media/<sha>.png") and made absolute on the way out, as for models
(`documents.absolutize`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from hub.server.documents import media_url

NSFW_LEVEL_OF = {False: 1, True: 4}


def user_summary(user: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": user["id"], "username": user["username"], "image": media_url(user.get("image_sha"))}


def cover_image_document(cover: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if cover is None:
        return None
    return {
        "id": cover["id"],
        "url": media_url(cover["media_sha"]),
        "nsfwLevel": cover["nsfw_level"],
        "width": cover["width"],
        "height": cover["height"],
        "hash": cover["blurhash"],
        "type": "image",
    }


def article_document(
    article: Mapping[str, Any],
    user: Mapping[str, Any],
    tags: Sequence[Mapping[str, Any]],
    cover: Mapping[str, Any] | None,
    models: Sequence[Mapping[str, Any]],
    with_content: bool,
) -> dict[str, Any]:
    """An item of `GET /api/v1/articles` (`with_content=False`) or `GET /articles/{id}`."""
    nsfw = bool(article["nsfw"])
    doc: dict[str, Any] = {
        "id": article["id"],
        "title": article["title"],
        "status": article["status"],
        "availability": "Public",
        "nsfw": nsfw,
        "nsfwLevel": NSFW_LEVEL_OF[nsfw],
        "createdAt": article["created_at"],
        "updatedAt": article["updated_at"],
        "publishedAt": article["published_at"],
        "user": user_summary(user),
        "tags": [{"id": t["id"], "name": t["name"], "isCategory": False} for t in tags],
        "coverImage": cover_image_document(cover),
        "stats": {
            "favoriteCount": 0,
            "collectedCount": article["collected_count"],
            "commentCount": article["comment_count"],
            "likeCount": 0,
            "dislikeCount": 0,
            "heartCount": 0,
            "laughCount": 0,
            "cryCount": 0,
            "viewCount": article["view_count"],
            "tippedAmountCount": 0,
        },
        "models": [{"id": m["id"], "name": m["name"], "type": m["type"]} for m in models],
        "contentFormat": article["content_format"],
        "link": f"/api/v1/articles/{article['id']}",
    }
    if with_content:
        doc["content"] = article["content"]
    return doc


def collection_document(
    collection: Mapping[str, Any],
    user: Mapping[str, Any],
    item_count: int,
    cover_sha: str | None,
    items: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A collection as `GET /api/v1/collections` lists it; `items` (ids and when they were
    added) are included for the change feeds, which carry whole collections to mirrors."""
    nsfw = bool(collection["nsfw"])
    doc: dict[str, Any] = {
        "id": collection["id"],
        "name": collection["name"],
        "description": collection["description"] or None,
        "type": collection["type"],
        "nsfwLevel": NSFW_LEVEL_OF[nsfw],
        "read": collection["read"],
        "isPublic": collection["read"] == "Public",
        "itemCount": item_count,
        "coverImageUrl": media_url(cover_sha),
        "user": {"id": user["id"], "username": user["username"]},
        "tags": [],
        "createdAt": collection["created_at"],
        "updatedAt": collection["updated_at"],
        "link": f"/api/v1/collections/{collection['id']}",
    }
    if items is not None:
        doc["items"] = [{"id": i["item_id"], "addedAt": i["added_at"]} for i in items]
    return doc


def collection_item_document(kind: str, item: Mapping[str, Any]) -> dict[str, Any]:
    """One entry of `GET /api/v1/collections/{id}/items`: a summary of the collected thing."""
    base = {"type": kind, "id": item["id"], "addedAt": item["added_at"]}
    if kind == "Model":
        return base | {
            "name": item["name"],
            "modelType": item["type"],
            "creator": {"username": item["username"]},
            "link": f"/api/v1/models/{item['id']}",
        }
    if kind == "Article":
        return base | {
            "title": item["title"],
            "user": {"username": item["username"]},
            "link": f"/api/v1/articles/{item['id']}",
        }
    return base | {
        "url": media_url(item["media_sha"]),
        "nsfwLevel": item["nsfw_level"],
        "width": item["width"],
        "height": item["height"],
        "hash": item["blurhash"],
        "modelId": item["model_id"],
        "modelVersionId": item["version_id"],
    }


def review_document(review: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": review["id"],
        "modelId": review["model_id"],
        "modelVersionId": review["version_id"],
        "recommended": bool(review["recommended"]),
        "details": review["details"] or None,
        "user": {"id": review["user_id"], "username": review["username"]},
        "createdAt": review["created_at"],
        "updatedAt": review["updated_at"],
    }


def comment_document(comment: Mapping[str, Any]) -> dict[str, Any]:
    key = "modelId" if comment["entity_type"] == "model" else "articleId"
    return {
        "id": comment["id"],
        key: comment["entity_id"],
        "content": comment["content"],
        "user": {"id": comment["user_id"], "username": comment["username"]},
        "createdAt": comment["created_at"],
        "updatedAt": comment["updated_at"],
    }


def notification_document(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "type": row["type"],
        "category": row["category"],
        "createdAt": row["created_at"],
        "read": row["read_at"] is not None,
        "readAt": row["read_at"],
        "details": json.loads(row["details"]),
    }


def models_link(username: str) -> str:
    return f"/api/v1/models?{urlencode({'username': username})}"
