"""Creators' writes: upload a model (multipart: files + JSON metadata), add a version, edit, delete."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import Response

from hub.server.auth import can_edit, require_user
from hub.server.documents import standalone_version
from hub.server.errors import ApiError, bad_request, not_found
from hub.server.hub_server import HubServer
from hub.server.routes.common import hub_of, json_doc, user_of
from hub.server.store import NotFound, User
from hub.server.uploads import (
    ModelMeta,
    UploadRejected,
    VersionMeta,
    clean_html,
    commit_upload,
    new_model,
    parse_metadata,
    stage_upload,
)

router = APIRouter()
FORM_OVERHEAD = 1024 * 1024


def _check_length(request: Request, hub: HubServer) -> int:
    raw = request.headers.get("content-length")
    if raw is None or not raw.isdigit():
        raise ApiError(411, "Content-Length: required for uploads")
    length = int(raw)
    if length > hub.config.max_upload_bytes + FORM_OVERHEAD:
        raise ApiError(
            413, f"upload: {length} bytes is more than the server's limit of {hub.config.max_upload_bytes}"
        )
    return length


async def _read_form(
    request: Request, hub: HubServer
) -> tuple[str | None, list[UploadFile], list[bytes], Any]:
    _check_length(request, hub)
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise bad_request("body: expected multipart/form-data with 'metadata', 'files' and optional 'images'")
    try:
        form = await request.form(
            max_files=hub.config.max_files_per_upload + hub.config.max_images_per_upload
        )
    except Exception as exc:  # a broken multipart body
        raise bad_request(f"body: could not read the multipart form ({exc})") from None
    metadata = form.get("metadata")
    if isinstance(metadata, UploadFile):
        metadata = (await metadata.read()).decode("utf-8", "replace")
    files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
    images = [await i.read() for i in form.getlist("images") if isinstance(i, UploadFile)]
    return metadata, files, images, form


def _stage(hub: HubServer, version_meta: VersionMeta, files: list[UploadFile], images: list[bytes]):
    return stage_upload(
        hub.config, version_meta, [(f.filename, f.file) for f in files], images, hub.config.max_upload_bytes
    )


def _rejected(exc: UploadRejected) -> ApiError:
    return ApiError(exc.status, str(exc))


@router.post("/api/v1/models")
async def upload_model(request: Request) -> Response:
    user = require_user(user_of(request))
    hub = hub_of(request)
    metadata, files, images, form = await _read_form(request, hub)
    try:
        meta: ModelMeta = parse_metadata(metadata, ModelMeta)
        upload = await run_in_threadpool(_stage, hub, meta.version, files, images)
        model = new_model(meta, upload.version(meta.version))
        _model_id, version_id = await run_in_threadpool(
            commit_upload, upload, lambda: hub.store.create_model(user.id, model)
        )
    except UploadRejected as exc:
        raise _rejected(exc) from None
    finally:
        await form.close()
    return _version_created(request, hub, version_id)


@router.post("/api/v1/models/{model_id}/versions")
async def upload_version(model_id: int, request: Request) -> Response:
    user = require_user(user_of(request))
    hub = hub_of(request)
    await run_in_threadpool(_check_owner, hub, user, model_id)
    metadata, files, images, form = await _read_form(request, hub)
    try:
        meta: VersionMeta = parse_metadata(metadata, VersionMeta)
        upload = await run_in_threadpool(_stage, hub, meta, files, images)
        version = upload.version(meta)
        version_id = await run_in_threadpool(
            commit_upload, upload, lambda: hub.store.add_version(model_id, version)
        )
    except UploadRejected as exc:
        raise _rejected(exc) from None
    except NotFound as exc:
        raise not_found(str(exc)) from None
    finally:
        await form.close()
    return _version_created(request, hub, version_id)


def _version_created(request: Request, hub: HubServer, version_id: int) -> Response:
    doc = json.loads(hub.store.version_model_doc(version_id))
    return json_doc(request, standalone_version(doc, version_id), 201)


def _check_owner(hub: HubServer, user: User, model_id: int) -> None:
    try:
        owner = hub.store.model_owner(model_id)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    if not can_edit(user, owner):
        raise ApiError(403, "Forbidden: only the model's creator or a moderator can change it")


@router.patch("/api/v1/models/{model_id}")
async def edit_model(model_id: int, request: Request) -> Response:
    user = require_user(user_of(request))
    hub = hub_of(request)
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise bad_request("body: not valid JSON") from None
    if not isinstance(body, dict) or not body:
        raise bad_request("body: expected a JSON object with name, description, nsfw and/or tags")
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key == "name" and isinstance(value, str) and 1 <= len(value.strip()) <= 200:
            changes["name"] = value.strip()
        elif key == "description" and isinstance(value, str) and len(value) <= 100_000:
            changes["description"] = clean_html(value) or ""
        elif key == "nsfw" and isinstance(value, bool):
            changes["nsfw"] = value
        elif (
            key == "tags"
            and isinstance(value, list)
            and all(isinstance(t, str) and 1 <= len(t) <= 50 for t in value)
        ):
            changes["tags"] = value[:20]
        else:
            raise bad_request(f"{key}: not an editable field or a bad value")
    await run_in_threadpool(_check_owner, hub, user, model_id)
    try:
        await run_in_threadpool(hub.store.update_model, model_id, changes)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    return json_doc(request, json.loads(hub.store.model_doc(model_id)))


@router.delete("/api/v1/models/{model_id}")
def delete_model(model_id: int, request: Request) -> Response:
    user = require_user(user_of(request))
    hub = hub_of(request)
    _check_owner(hub, user, model_id)
    try:
        hub.store.delete_model(model_id)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    return Response(status_code=204)
