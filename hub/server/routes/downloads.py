"""`GET`/`HEAD /api/download/models/{versionId}`: file downloads with Range, ETag and
Content-Disposition. Files are public: an unknown or empty API key downloads as anonymous."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from hub.server.enums import FILE_FORMATS, FILE_PRECISIONS, FILE_SIZES, MODEL_FILE_TYPES
from hub.server.errors import not_found
from hub.server.openapi import responses
from hub.server.params import VersionIdPath, choice, enum_query
from hub.server.routes.common import ServedFile, hub_of
from hub.server.store import NotFound

router = APIRouter(tags=["downloads"])
FILE_HEADERS = {
    "ETag": {"description": '"<sha256 of the file>"', "schema": {"type": "string"}},
    "Content-Disposition": {"description": "attachment; filename=...", "schema": {"type": "string"}},
    "Accept-Ranges": {"description": "bytes", "schema": {"type": "string"}},
}
BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


def _download_responses(what: str) -> dict[int | str, dict[str, Any]]:
    ok: dict[int, dict[str, Any]] = {
        200: {"description": what, "headers": FILE_HEADERS, "content": BINARY},
        206: {
            "description": f"{what}: the requested range (Range, If-Range)",
            "headers": FILE_HEADERS,
            "content": BINARY,
        },
    }
    return responses(400, 404, 416, 422, ok=ok)  # 400: also a malformed Range


def _download(
    request: Request,
    version_id: VersionIdPath,
    file_type: Annotated[str | None, enum_query(MODEL_FILE_TYPES, "file type", "type")] = None,
    file_format: Annotated[str | None, enum_query(FILE_FORMATS, "file format", "format")] = None,
    fp: Annotated[str | None, enum_query(FILE_PRECISIONS, "precision")] = None,
    size: Annotated[str | None, enum_query(FILE_SIZES, "full or pruned")] = None,
) -> Response:
    hub = hub_of(request)
    try:
        found = hub.store.download_file(
            version_id,
            choice("type", file_type, MODEL_FILE_TYPES, None),
            choice("format", file_format, FILE_FORMATS, None),
            choice("fp", fp, FILE_PRECISIONS, None),
            choice("size", size, FILE_SIZES, None),
        )
    except NotFound as exc:
        raise not_found(str(exc)) from None
    path = hub.config.data_dir / found.path
    range_header = request.headers.get("range", "")
    if request.method == "GET" and (not range_header or range_header.replace(" ", "").startswith("bytes=0-")):
        hub.store.record_download(version_id)
    headers = {"ETag": f'"{found.sha256.lower()}"', "Cache-Control": "private, max-age=0"}
    if hub.config.accel_redirect:
        disposition = ServedFile(path, filename=found.name).headers["content-disposition"]
        headers |= {"X-Accel-Redirect": f"{hub.config.accel_redirect.rstrip('/')}/{found.path}"}
        headers |= {"Content-Disposition": disposition}
        return Response(status_code=200, media_type="application/octet-stream", headers=headers)
    return ServedFile(path, filename=found.name, media_type="application/octet-stream", headers=headers)


DOWNLOAD_PATH = "/api/download/models/{modelVersionId}"
router.get(
    DOWNLOAD_PATH,
    operation_id="downloadModelVersion",
    summary="Download a version's file (the primary one unless type/format/fp/size pick another)",
    responses=_download_responses("the file"),
)(_download)
router.head(
    DOWNLOAD_PATH,
    operation_id="headModelVersionDownload",
    summary="The headers of a download (size, ETag, file name) without the body",
    responses=_download_responses("the headers of the file (no body)"),
)(_download)
