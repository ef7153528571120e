"""Reviews of model versions (thumbs up or down with text, one per user per version, editable;
they make the models' thumbsUpCount / thumbsDownCount / rating) and comments on models and
articles. Texts are Markdown, stored as sanitised HTML."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hub.server import features
from hub.server.auth import can_edit, require_user
from hub.server.errors import ApiError, not_found
from hub.server.rich_text import safe_html
from hub.server.routes.common import hub_of, json_doc, user_of
from hub.server.routes.community_http import (
    ArticleId,
    BodyReader,
    CommentId,
    ModelId,
    VersionId,
    json_body,
    read_object,
    responses,
)
from hub.server.routes.cosmetics import with_cosmetics
from hub.server.store import NotFound

router = APIRouter(
    tags=["reviews and comments"], dependencies=[Depends(features.require_feature(features.REVIEWS))]
)
MAX_TEXT = 10_000


def _page(items: list, total: int, page: int, limit: int) -> dict:
    return {
        "items": items,
        "metadata": {
            "totalItems": total,
            "currentPage": page,
            "pageSize": limit,
            "totalPages": -(-total // limit),
        },
    }


@router.get(
    "/api/v1/model-versions/{modelVersionId}/reviews",
    operation_id="listVersionReviews",
    summary="Reviews of a model version, newest first",
    responses=responses(400, 404, 422),
)
def list_reviews(
    version_id: VersionId,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    try:
        items, total = hub_of(request).store.reviews.list(version_id, limit, (page - 1) * limit)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    with_cosmetics(request, items)
    return json_doc(request, _page(items, total, page, limit))


@router.put(
    "/api/v1/model-versions/{modelVersionId}/review",
    operation_id="putMyReview",
    summary="Write or edit the caller's review of a version (201 when new)",
    responses=responses(
        400, 401, 403, 404, 413, 422, description="the review, edited", also={201: "the new review"}
    ),
    openapi_extra=json_body(
        {"recommended": {"type": "boolean"}, "details": {"type": "string", "maxLength": MAX_TEXT}},
        ["recommended"],
        "details is Markdown",
    ),
)
async def put_review(version_id: VersionId, request: Request) -> Response:
    user = require_user(user_of(request))
    reader = BodyReader(await read_object(request), ["recommended", "details"])
    recommended = reader.boolean("recommended", required=True)
    details = reader.string("details", high=MAX_TEXT)
    reader.done()
    assert recommended is not None
    hub = hub_of(request)
    try:
        _model_id, creator_id = await run_in_threadpool(hub.store.reviews.version_model, version_id)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    if creator_id == user.id:
        raise ApiError(403, "Forbidden: creators cannot review their own models")
    html = safe_html(details, "markdown") if details else ""
    doc, created = await run_in_threadpool(hub.store.reviews.upsert, version_id, user.id, recommended, html)
    hub.wake_jobs()
    await run_in_threadpool(with_cosmetics, request, [doc])
    return json_doc(request, doc, 201 if created else 200)


@router.delete(
    "/api/v1/model-versions/{modelVersionId}/review",
    operation_id="deleteMyReview",
    summary="Withdraw the caller's review of a version",
    status_code=204,
    responses=responses(400, 401, 404, 422, ok=204, description="deleted"),
)
def delete_review(version_id: VersionId, request: Request) -> Response:
    user = require_user(user_of(request))
    try:
        hub_of(request).store.reviews.delete(version_id, user.id)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    return Response(status_code=204)


def _list_comments(request: Request, entity_type: str, entity_id: int, limit: int, page: int) -> Response:
    try:
        items, total = hub_of(request).store.reviews.comments(
            entity_type, entity_id, limit, (page - 1) * limit
        )
    except NotFound as exc:
        raise not_found(str(exc)) from None
    with_cosmetics(request, items)
    return json_doc(request, _page(items, total, page, limit))


async def _add_comment(request: Request, entity_type: str, entity_id: int) -> Response:
    user = require_user(user_of(request))
    reader = BodyReader(await read_object(request), ["content"])
    content = reader.string("content", required=True, low=1, high=MAX_TEXT)
    reader.done()
    assert content is not None
    html = safe_html(content, "markdown")
    if not html:
        raise ApiError(400, "content: nothing is left once scripts and unsafe markup are removed")
    hub = hub_of(request)
    try:
        doc = await run_in_threadpool(hub.store.reviews.add_comment, entity_type, entity_id, user.id, html)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    hub.wake_jobs()
    await run_in_threadpool(with_cosmetics, request, [doc])
    return json_doc(request, doc, 201)


COMMENT_BODY = json_body(
    {"content": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}}, ["content"], "Markdown"
)
Limit = Annotated[int, Query(ge=1, le=100)]
Page = Annotated[int, Query(ge=1, le=10_000)]


@router.get(
    "/api/v1/models/{modelId}/comments",
    operation_id="listModelComments",
    summary="Comments on a model, oldest first",
    responses=responses(400, 404, 422),
)
def list_model_comments(model_id: ModelId, request: Request, limit: Limit = 50, page: Page = 1) -> Response:
    return _list_comments(request, "model", model_id, limit, page)


@router.post(
    "/api/v1/models/{modelId}/comments",
    operation_id="addModelComment",
    summary="Comment on a model",
    status_code=201,
    responses=responses(400, 401, 404, 413, 422, ok=201, description="the comment"),
    openapi_extra=COMMENT_BODY,
)
async def add_model_comment(model_id: ModelId, request: Request) -> Response:
    return await _add_comment(request, "model", model_id)


@router.get(
    "/api/v1/articles/{articleId}/comments",
    operation_id="listArticleComments",
    summary="Comments on a published article, oldest first",
    responses=responses(400, 404, 422),
)
def list_article_comments(
    article_id: ArticleId, request: Request, limit: Limit = 50, page: Page = 1
) -> Response:
    return _list_comments(request, "article", article_id, limit, page)


@router.post(
    "/api/v1/articles/{articleId}/comments",
    operation_id="addArticleComment",
    summary="Comment on a published article",
    status_code=201,
    responses=responses(400, 401, 404, 413, 422, ok=201, description="the comment"),
    openapi_extra=COMMENT_BODY,
)
async def add_article_comment(article_id: ArticleId, request: Request) -> Response:
    return await _add_comment(request, "article", article_id)


@router.delete(
    "/api/v1/comments/{commentId}",
    operation_id="deleteComment",
    summary="Delete a comment (its author or a moderator)",
    status_code=204,
    responses=responses(400, 401, 403, 404, 422, ok=204, description="deleted"),
)
def delete_comment(comment_id: CommentId, request: Request) -> Response:
    user = require_user(user_of(request))
    hub = hub_of(request)
    try:
        author = hub.store.reviews.comment_author(comment_id)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    if not can_edit(user, author):
        raise ApiError(403, "Forbidden: only the comment's author or a moderator can delete it")
    hub.store.reviews.delete_comment(comment_id)
    return Response(status_code=204)
