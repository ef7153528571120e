"""Creators' writes: upload a model (multipart: files + JSON metadata), add a version, edit, delete."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import Response

from hub.server import api_schema
from hub.server.auth import can_edit
from hub.server.documents import standalone_version
from hub.server.errors import ApiError, bad_request, not_found
from hub.server.hub_server import HubServer
from hub.server.openapi import json_ok, multipart_body, responses
from hub.server.params import ModelIdPath
from hub.server.routes.common import SignedIn, hub_of, json_doc
from hub.server.store import NotFound, User
from hub.server.text_fields import clean_html
from hub.server.uploads import (
    ModelMeta,
    UploadRejected,
    VersionMeta,
    commit_upload,
    display_name,
    new_model,
    parse_metadata,
    stage_upload,
    tag_names,
)

router = APIRouter(tags=["uploads and edits"])
# The schemas the multipart bodies refer to (added to the OpenAPI components by the app).
UPLOAD_SCHEMAS: list[type[BaseModel]] = [ModelMeta, VersionMeta]
UPLOAD_ERRORS = (400, 401, 411, 413)
CREATED = json_ok(api_schema.StandaloneVersion, "the new version", 201)
FORM_OVERHEAD = 1024 * 1024
FORM_FIELDS = ("metadata", "files", "images")
MAX_METADATA_BYTES = 1024 * 1024  # as Starlette's limit for a plain (not file) form field


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
    try:
        unknown = sorted(set(form.keys()) - set(FORM_FIELDS))
        if unknown:
            raise bad_request(
                f"body: unknown form fields {', '.join(unknown)}; expected {', '.join(FORM_FIELDS)}"
            )
        metadata = form.get("metadata")
        if isinstance(metadata, UploadFile):
            metadata = await _read_at_most(metadata, MAX_METADATA_BYTES, "metadata")
            metadata = metadata.decode("utf-8", "replace")
        files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
        if len(files) != len(form.getlist("files")):
            raise bad_request("files: each must be a file part (with a filename)")
        images = [
            await _read_at_most(i, hub.config.max_image_bytes, "images")
            for i in form.getlist("images")
            if isinstance(i, UploadFile)
        ]
        if len(images) != len(form.getlist("images")):
            raise bad_request("images: each must be a file part (with a filename)")
    except BaseException:
        await form.close()
        raise
    return metadata, files, images, form


async def _read_at_most(part: UploadFile, limit: int, name: str) -> bytes:
    """A form part's bytes; a 413 naming the field when it is larger than `limit`."""
    data = await part.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, f"{name}: a part is larger than the server's limit of {limit} bytes")
    return data


def _stage(hub: HubServer, version_meta: VersionMeta, files: list[UploadFile], images: list[bytes]):
    return stage_upload(
        hub.config, version_meta, [(f.filename, f.file) for f in files], images, hub.config.max_upload_bytes
    )


def _rejected(exc: UploadRejected) -> ApiError:
    return ApiError(exc.status, str(exc))


@router.post(
    "/api/v1/models",
    operation_id="uploadModel",
    status_code=201,
    responses=responses(*UPLOAD_ERRORS, ok=CREATED),
    openapi_extra=multipart_body("ModelMeta", "a new model: its metadata (JSON), files and preview images"),
)
async def upload_model(request: Request, user: SignedIn) -> Response:
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


@router.post(
    "/api/v1/models/{modelId}/versions",
    operation_id="uploadModelVersion",
    status_code=201,
    responses=responses(*UPLOAD_ERRORS, 403, 404, 422, ok=CREATED),
    openapi_extra=multipart_body("VersionMeta", "a new version: its metadata (JSON), files and images"),
)
async def upload_version(model_id: ModelIdPath, request: Request, user: SignedIn) -> Response:
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


class ModelEdit(BaseModel):
    """The fields of a model its creator may change; give at least one."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200, description="plain text")
    description: str | None = Field(None, max_length=100_000, description="HTML (sanitised)")
    nsfw: bool | None = None
    tags: list[str] | None = Field(None, max_length=20, description="replaces the tags")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else display_name(value)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else tag_names(value)

    @model_validator(mode="after")
    def _some_change(self) -> ModelEdit:
        if not self.model_fields_set:
            raise ValueError("give at least one of name, description, nsfw, tags")
        nulls = sorted(f for f in self.model_fields_set if getattr(self, f) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)}: null is not a value (leave the field out)")
        return self


@router.patch(
    "/api/v1/models/{modelId}",
    operation_id="editModel",
    responses=responses(400, 401, 403, 404, 422, ok=json_ok(api_schema.Model, "the edited model")),
)
async def edit_model(model_id: ModelIdPath, request: Request, user: SignedIn, body: ModelEdit) -> Response:
    hub = hub_of(request)
    changes: dict[str, Any] = body.model_dump(include=body.model_fields_set)
    if "description" in changes:
        changes["description"] = clean_html(changes["description"]) or ""
    await run_in_threadpool(_check_owner, hub, user, model_id)
    try:
        await run_in_threadpool(hub.store.update_model, model_id, changes)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    return json_doc(request, json.loads(hub.store.model_doc(model_id)))


@router.delete(
    "/api/v1/models/{modelId}",
    operation_id="deleteModel",
    status_code=204,
    responses=responses(400, 401, 403, 404, 422, ok={204: {"description": "the model is deleted"}}),
)
def delete_model(model_id: ModelIdPath, request: Request, user: SignedIn) -> Response:
    hub = hub_of(request)
    _check_owner(hub, user, model_id)
    try:
        hub.store.delete_model(model_id)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    return Response(status_code=204)
