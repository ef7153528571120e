"""`GET /api/download/models/{versionId}`: file downloads with Range, ETag and Content-Disposition."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response

from hub.server.enums import FILE_FORMATS, FILE_PRECISIONS, FILE_SIZES, MODEL_FILE_TYPES
from hub.server.errors import not_found
from hub.server.params import get_choice
from hub.server.routes.common import hub_of
from hub.server.store import NotFound

router = APIRouter()


class ModelFileResponse(FileResponse):
    """A FileResponse with larger reads: fewer event-loop round trips per byte."""

    chunk_size = 1024 * 1024


@router.api_route("/api/download/models/{version_id}", methods=["GET", "HEAD"])
def download(version_id: int, request: Request) -> Response:
    params = request.query_params
    file_type = get_choice(params, "type", MODEL_FILE_TYPES, None)
    file_format = get_choice(params, "format", FILE_FORMATS, None)
    fp = get_choice(params, "fp", FILE_PRECISIONS, None)
    size = get_choice(params, "size", FILE_SIZES, None)
    hub = hub_of(request)
    try:
        found = hub.store.download_file(version_id, file_type, file_format, fp, size)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    path = hub.config.data_dir / found.path
    range_header = request.headers.get("range", "")
    if request.method == "GET" and (not range_header or range_header.replace(" ", "").startswith("bytes=0-")):
        hub.store.record_download(version_id)
    headers = {"ETag": f'"{found.sha256.lower()}"', "Cache-Control": "private, max-age=0"}
    if hub.config.accel_redirect:
        disposition = ModelFileResponse(path, filename=found.name).headers["content-disposition"]
        headers |= {"X-Accel-Redirect": f"{hub.config.accel_redirect.rstrip('/')}/{found.path}"}
        headers |= {"Content-Disposition": disposition}
        return Response(status_code=200, media_type="application/octet-stream", headers=headers)
    return ModelFileResponse(
        path, filename=found.name, media_type="application/octet-stream", headers=headers
    )
