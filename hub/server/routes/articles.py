"""Articles: Civitai's `GET /api/v1/articles` and `/articles/{id}`, and the authoring routes
(create, edit, publish, cover, delete: the author's own, or any for a moderator)."""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hub.server import features
from hub.server.auth import can_edit, require_user
from hub.server.errors import ApiError, bad_request, not_found
from hub.server.hub_server import HubServer
from hub.server.params import INT64_MAX
from hub.server.rich_text import FORMATS, safe_html
from hub.server.routes.common import hub_of, json_doc, list_response, user_of
from hub.server.routes.community_http import (
    NO_BODY,
    ArticleId,
    BodyReader,
    cursor_metadata,
    json_body,
    read_object,
    responses,
)
from hub.server.routes.cosmetics import texts_with_cosmetics, with_cosmetics
from hub.server.store import NotFound, User
from hub.server.store.articles import ARTICLE_SORT_COLUMNS, ArticleFields, ArticleQuery
from hub.server.uploads import ImageMetaIn, UploadRejected, stage_image

router = APIRouter(tags=["articles"], dependencies=[Depends(features.require_feature(features.ARTICLES))])
UNSUPPORTED_SORTS = {
    "Most Reactions": "articles have no reactions on this server",
    "Most Bookmarks": "articles have no bookmarks on this server",
}
MAX_CONTENT = 200_000
NSFW_LEVELS = (1, 2, 4, 8, 16)
ARTICLE_FIELDS = {
    "title": {"type": "string", "minLength": 1, "maxLength": 200},
    "content": {
        "type": "string",
        "maxLength": MAX_CONTENT,
        "description": "Markdown or HTML (see contentFormat)",
    },
    "contentFormat": {"type": "string", "enum": list(FORMATS), "default": "html"},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 50}, "maxItems": 20},
    "modelIds": {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 50},
    "nsfw": {"type": "boolean"},
}


def parse_cursor(raw: str | None) -> tuple[int, int] | None:
    """Civitai's article cursor: `"<sort value>|<id>"`."""
    if not raw:
        return None
    value, sep, last_id = raw.partition("|")
    try:
        if not sep:
            raise ValueError
        return int(value), int(last_id)
    except ValueError:
        raise bad_request(
            f"cursor: malformed {raw!r}; pass metadata.nextCursor from the previous page"
        ) from None


def parse_tag_ids(raw: list[str]) -> tuple[int, ...]:
    out = []
    for part in (p.strip() for value in raw for p in value.split(",")):
        if not part:
            continue
        if not part.isdigit() or not 1 <= int(part) <= INT64_MAX:
            raise bad_request(f"tags: expected comma-separated tag ids (integers), got {part!r}")
        out.append(int(part))
    return tuple(out)


@router.get(
    "/api/v1/articles",
    operation_id="listArticles",
    summary="Published articles, newest first (Civitai's shape; cursor paging only)",
    responses=responses(400),
)
def list_articles(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100, description="items per page")] = 100,
    cursor: Annotated[str | None, Query(description="metadata.nextCursor of the previous page")] = None,
    query: Annotated[
        str | None, Query(description="words of the title, tags or author (prefixes match)")
    ] = None,
    tags: Annotated[list[str], Query(description="tag ids, comma-separated or repeated (any of them)")] = [],  # noqa: B006
    username: Annotated[str | None, Query(description="only this author's")] = None,
    sort: Annotated[
        str,
        Query(
            description="order",
            json_schema_extra={"enum": [*ARTICLE_SORT_COLUMNS, *UNSUPPORTED_SORTS]},
        ),
    ] = "Newest",
    nsfw: Annotated[bool, Query(description="include mature articles")] = False,
) -> Response:
    by_lower = {s.lower(): s for s in ARTICLE_SORT_COLUMNS}
    chosen = by_lower.get(sort.lower())
    problems = []
    if chosen is None:
        reason = next((why for name, why in UNSUPPORTED_SORTS.items() if name.lower() == sort.lower()), None)
        problems.append(
            f"sort: {sort!r} is not supported ({reason})"
            if reason
            else f"sort: unknown value {sort!r}; expected one of: {', '.join(ARTICLE_SORT_COLUMNS)}"
        )
    try:
        after = parse_cursor(cursor)
    except ApiError as error:
        problems.append(error.message)
        after = None
    try:
        tag_ids = parse_tag_ids(tags)
    except ApiError as error:
        problems.append(error.message)
        tag_ids = ()
    if problems:
        raise bad_request("; ".join(problems))
    assert chosen is not None
    q = ArticleQuery(
        limit=limit,
        sort=chosen,
        query=query,
        tag_ids=tag_ids,
        username=username or None,
        nsfw=nsfw,
        after=after,
    )
    page = hub_of(request).store.articles.list(q)
    next_cursor = f"{page.last_key[0]}|{page.last_key[1]}" if page.last_key else None
    docs = texts_with_cosmetics(request, page.docs)
    return list_response(request, docs, cursor_metadata(request, next_cursor))


@router.get(
    "/api/v1/me/articles",
    operation_id="listMyArticles",
    summary="The caller's own articles, drafts included, most recently updated first",
    responses=responses(400, 401),
)
def my_articles(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    user = require_user(user_of(request))
    items, total = hub_of(request).store.articles.of_user(user.id, limit, (page - 1) * limit)
    metadata = {"totalItems": total, "currentPage": page, "pageSize": limit, "totalPages": -(-total // limit)}
    with_cosmetics(request, items)
    return json_doc(request, {"items": items, "metadata": metadata})


def _article_response(request: Request, article_id: int, status: int = 200) -> Response:
    """The article as its author sees it (drafts included), cosmetics next to the name."""
    doc = hub_of(request).store.articles.document(article_id)
    with_cosmetics(request, [doc])
    return json_doc(request, doc, status)


def _visible(hub: HubServer, article_id: int, user: User | None) -> dict[str, Any]:
    """The article; a draft only for its author and moderators (404 for anyone else)."""
    try:
        doc = hub.store.articles.document(article_id)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    if doc["status"] != "Published" and (user is None or not can_edit(user, doc["user"]["id"])):
        raise not_found(f"No article with id {article_id}")
    return doc


@router.get(
    "/api/v1/articles/{articleId}",
    operation_id="getArticle",
    summary="One article with its content (a draft only for its author)",
    responses=responses(400, 404, 422),
)
def get_article(article_id: ArticleId, request: Request) -> Response:
    hub = hub_of(request)
    doc = _visible(hub, article_id, user_of(request))
    if doc["status"] == "Published":
        hub.store.articles.record_view(article_id)
    with_cosmetics(request, [doc])
    return json_doc(request, doc)


def _fields(body: dict[str, Any], creating: bool) -> ArticleFields:
    reader = BodyReader(body, list(ARTICLE_FIELDS))
    title = reader.string("title", required=creating, low=1, high=200)
    content = reader.string("content", required=creating, low=1, high=MAX_CONTENT)
    text_format = reader.choice("contentFormat", FORMATS) or (
        "html" if creating or content is not None else None
    )
    tags = reader.strings("tags")
    model_ids = reader.ids("modelIds")
    nsfw = reader.boolean("nsfw")
    if not creating and not body:
        reader.fail("body: give at least one of " + ", ".join(ARTICLE_FIELDS))
    if reader.has("contentFormat") and not reader.has("content") and not creating:
        reader.fail("contentFormat: send it with the content it describes")
    reader.done()
    html = safe_html(content, text_format or "html") if content is not None else None
    if content is not None and not html:
        raise bad_request("content: nothing is left once scripts and unsafe markup are removed")
    return ArticleFields(
        title=title,
        content=html,
        content_format=text_format if content is not None else None,
        tags=tags,
        model_ids=model_ids,
        nsfw=bool(nsfw) if creating else nsfw,
    )


def _owned(hub: HubServer, user: User, article_id: int) -> None:
    try:
        owner, _status = hub.store.articles.owner(article_id)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    if not can_edit(user, owner):
        raise ApiError(403, "Forbidden: only the article's author or a moderator can change it")


def _not_found_as_400(exc: NotFound) -> ApiError:
    """A missing linked model is bad input (the message names the field), not a missing route."""
    message = str(exc)
    return bad_request(message) if message.startswith("modelIds:") else not_found(message)


@router.post(
    "/api/v1/articles",
    operation_id="createArticle",
    summary="Write a new article (a draft until published)",
    status_code=201,
    responses=responses(400, 401, 413, ok=201, description="the new draft"),
    openapi_extra=json_body(ARTICLE_FIELDS, ["title", "content"], "content is sanitised on the way in"),
)
async def create_article(request: Request) -> Response:
    user = require_user(user_of(request))
    fields = _fields(await read_object(request), creating=True)
    hub = hub_of(request)
    try:
        article_id = await run_in_threadpool(hub.store.articles.create, user.id, fields)
    except NotFound as exc:
        raise _not_found_as_400(exc) from None
    return _article_response(request, article_id, 201)


@router.patch(
    "/api/v1/articles/{articleId}",
    operation_id="updateArticle",
    summary="Edit an article's title, content, tags, linked models or nsfw flag",
    responses=responses(400, 401, 403, 404, 413, 422),
    openapi_extra=json_body(ARTICLE_FIELDS, (), "only the fields given change"),
)
async def update_article(article_id: ArticleId, request: Request) -> Response:
    user = require_user(user_of(request))
    fields = _fields(await read_object(request), creating=False)
    hub = hub_of(request)
    await run_in_threadpool(_owned, hub, user, article_id)
    try:
        await run_in_threadpool(hub.store.articles.update, article_id, fields)
    except NotFound as exc:
        raise _not_found_as_400(exc) from None
    return _article_response(request, article_id)


def _set_published(request: Request, article_id: int, published: bool) -> Response:
    user = require_user(user_of(request))
    hub = hub_of(request)
    _owned(hub, user, article_id)
    hub.store.articles.set_published(article_id, published)
    hub.wake_jobs()
    return _article_response(request, article_id)


@router.post(
    "/api/v1/articles/{articleId}/publish",
    operation_id="publishArticle",
    openapi_extra=NO_BODY,
    summary="Publish an article (the first time notifies the author's followers)",
    responses=responses(400, 401, 403, 404, 422),
)
def publish_article(article_id: ArticleId, request: Request) -> Response:
    return _set_published(request, article_id, True)


@router.post(
    "/api/v1/articles/{articleId}/unpublish",
    operation_id="unpublishArticle",
    openapi_extra=NO_BODY,
    summary="Take an article back to draft (it leaves lists, search and mirrors)",
    responses=responses(400, 401, 403, 404, 422),
)
def unpublish_article(article_id: ArticleId, request: Request) -> Response:
    return _set_published(request, article_id, False)


@router.put(
    "/api/v1/articles/{articleId}/cover",
    operation_id="setArticleCover",
    summary="Upload the cover image (PNG, JPEG or WEBP as the body; stored as PNG)",
    responses=responses(400, 401, 403, 404, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                m: {"schema": {"type": "string", "format": "binary"}}
                for m in ("image/png", "image/jpeg", "image/webp")
            },
        }
    },
)
async def set_cover(
    article_id: ArticleId,
    request: Request,
    nsfw_level: Annotated[
        int,
        Query(
            alias="nsfwLevel",
            description="the image's level: 1, 2, 4, 8 or 16",
            json_schema_extra={"enum": list(NSFW_LEVELS)},
        ),
    ] = 1,
) -> Response:
    user = require_user(user_of(request))
    if nsfw_level not in NSFW_LEVELS:
        raise bad_request(f"nsfwLevel: one of {', '.join(map(str, NSFW_LEVELS))}, got {nsfw_level}")
    hub = hub_of(request)
    await run_in_threadpool(_owned, hub, user, article_id)
    data = await request.body()
    if not data:
        raise bad_request("body: the image's bytes are required")
    try:
        staged = await run_in_threadpool(stage_image, hub.config, data, ImageMetaIn(nsfwLevel=nsfw_level))
    except UploadRejected as exc:
        raise ApiError(exc.status, "body: " + str(exc).removeprefix("images: ")) from None
    media = staged.new_image.media
    target = hub.config.data_dir / media.path
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        partial.write_bytes(staged.data)
        os.replace(partial, target)
    await run_in_threadpool(hub.store.articles.set_cover, article_id, media, nsfw_level)
    return _article_response(request, article_id)


@router.delete(
    "/api/v1/articles/{articleId}",
    operation_id="deleteArticle",
    summary="Delete an article",
    status_code=204,
    responses=responses(400, 401, 403, 404, 422, ok=204, description="deleted"),
)
def delete_article(article_id: ArticleId, request: Request) -> Response:
    user = require_user(user_of(request))
    hub = hub_of(request)
    _owned(hub, user, article_id)
    try:
        hub.store.articles.delete(article_id)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    return Response(status_code=204)
