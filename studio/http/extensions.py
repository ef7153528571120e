"""HTTP routes for scripts and extensions (FastAPI routers the app includes).

`build_router(scripts, extensions)` serves, under `/studio/v1`:
    GET    /scripts                       every script: kind, params, JSON schema
    GET    /scripts/{name}                one script
    GET    /extensions                    installed extensions with state and load result
    POST   /extensions/install            {"source": https/ssh git URL | path | .zip path, "kind": "auto"}
                                          (a path on the studio's machine: from that machine only)
    POST   /extensions/install/zip        multipart upload (field "file") of a .zip
    POST   /extensions/{name}/enable      enable and load now
    POST   /extensions/{name}/disable     disable and unload now
    POST   /extensions/{name}/update      git pull --ff-only, reload
    DELETE /extensions/{name}             uninstall (shipped extensions: 409)
Routes that scripts add through the `api` hook are mounted by `studio.http.app.create_app` under
`/studio/v1/ext/<extension>` (`ScriptManager.call_api`).
Errors answer `{"error": "..."}` with a fitting status.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from studio.http.errors import (
    COMMON_RESPONSES,
    CONFLICT,
    FORBIDDEN,
    NOT_FOUND,
    StrictJsonRoute,
    problems_response,
)
from studio.scripts.extensions.manager import ExtensionManager
from studio.scripts.extensions.manifest import ExtensionError
from studio.scripts.manager import ScriptManager

MAX_ZIP_BYTES = 256 * 1024 * 1024


def is_local_client(request: Request) -> bool:
    """Whether the request comes from the studio's own machine (a loopback address)."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class InstallBody(BaseModel):
    source: str
    kind: str = "auto"


def _error(error: ExtensionError) -> JSONResponse:
    message = str(error)
    if error.status == 422:  # the API's one 422 shape, naming the field when there is one
        field, sep, rest = message.partition(": ")
        named = bool(sep) and field == "source"
        response = problems_response(
            [
                (
                    "source" if named else "body",
                    ["body", "source"] if named else ["body"],
                    rest if named else message,
                    "value_error",
                )
            ],
            error="ExtensionError",
        )
        return response
    return JSONResponse({"error": message, "detail": message}, status_code=error.status)


def build_router(scripts: ScriptManager, extensions: ExtensionManager) -> APIRouter:
    router = APIRouter(
        prefix="/studio/v1", tags=["scripts"], route_class=StrictJsonRoute, responses=COMMON_RESPONSES
    )

    @router.get("/scripts")
    def list_scripts() -> list[dict[str, Any]]:
        return scripts.describe()

    @router.get("/scripts/{name:path}", responses={404: NOT_FOUND})
    def get_script(name: str) -> Any:
        for described in scripts.describe():
            if described["name"].lower() == name.lower():
                return described
        return JSONResponse(
            {"error": f"no script named {name!r}", "detail": f"no script named {name!r}"}, status_code=404
        )

    @router.get("/extensions")
    def list_extensions() -> list[dict[str, Any]]:
        return [info.to_json() for info in extensions.list()]

    @router.post("/extensions/install", responses={403: FORBIDDEN, 404: NOT_FOUND, 409: CONFLICT})
    def install(body: InstallBody, request: Request) -> Any:
        try:
            return extensions.install(
                body.source, kind=body.kind, local_client=is_local_client(request)
            ).to_json()
        except ExtensionError as error:
            return _error(error)

    @router.post("/extensions/install/zip", responses={409: CONFLICT})
    def install_zip(file: UploadFile = File(...)) -> Any:  # noqa: B008 (FastAPI's idiom)
        data = file.file.read(MAX_ZIP_BYTES + 1)
        if len(data) > MAX_ZIP_BYTES:
            return JSONResponse(
                {"error": "the zip is larger than 256 MiB", "detail": "the zip is larger than 256 MiB"},
                status_code=413,
            )
        try:
            return extensions.install_zip_bytes(data, file.filename or "upload.zip").to_json()
        except ExtensionError as error:
            return _error(error)

    def action(name: str, operation: str) -> Any:
        try:
            if operation == "uninstall":
                extensions.uninstall(name)
                return {"removed": name}
            return getattr(extensions, operation)(name).to_json()
        except ExtensionError as error:
            return _error(error)

    @router.post("/extensions/{name}/enable", responses={404: NOT_FOUND, 409: CONFLICT})
    def enable(name: str) -> Any:
        return action(name, "enable")

    @router.post("/extensions/{name}/disable", responses={404: NOT_FOUND, 409: CONFLICT})
    def disable(name: str) -> Any:
        return action(name, "disable")

    @router.post("/extensions/{name}/update", responses={404: NOT_FOUND, 409: CONFLICT})
    def update(name: str) -> Any:
        return action(name, "update")

    @router.delete("/extensions/{name}", responses={404: NOT_FOUND, 409: CONFLICT})
    def uninstall(name: str) -> Any:
        return action(name, "uninstall")

    return router
