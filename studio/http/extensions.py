"""HTTP routes for scripts and extensions (FastAPI routers the app includes).

`build_router(scripts, extensions)` serves, under `/studio/v1`:
    GET    /scripts                       every script: kind, params, JSON schema
    GET    /scripts/{name}                one script
    GET    /extensions                    installed extensions with state and load result
    POST   /extensions/install            {"source": path | .zip path | git URL, "kind": "auto"}
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

from typing import Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from studio.scripts.extensions.manager import ExtensionManager
from studio.scripts.extensions.manifest import ExtensionError
from studio.scripts.extensions.sources import looks_like_git
from studio.scripts.manager import ScriptManager

MAX_ZIP_BYTES = 256 * 1024 * 1024
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class InstallBody(BaseModel):
    source: str
    kind: str = "auto"


def _error(error: ExtensionError) -> JSONResponse:
    return JSONResponse({"error": str(error)}, status_code=error.status)


def build_router(scripts: ScriptManager, extensions: ExtensionManager) -> APIRouter:
    router = APIRouter(prefix="/studio/v1", tags=["scripts"])

    @router.get("/scripts")
    def list_scripts() -> list[dict[str, Any]]:
        return scripts.describe()

    @router.get("/scripts/{name:path}")
    def get_script(name: str) -> Any:
        for described in scripts.describe():
            if described["name"].lower() == name.lower():
                return described
        return JSONResponse({"error": f"no script named {name!r}"}, status_code=404)

    @router.get("/extensions")
    def list_extensions() -> list[dict[str, Any]]:
        return [info.to_json() for info in extensions.list()]

    @router.post("/extensions/install")
    def install(body: InstallBody, request: Request) -> Any:
        local = (
            body.kind in ("folder", "zip")
            or not looks_like_git(body.source)
            or body.source.startswith("file:")
        )
        client = request.client.host if request.client else ""
        if local and client not in LOOPBACK:
            return JSONResponse(
                {"error": "installing from a path on the studio's machine is allowed from that machine only; "
                          "upload a zip or give a git URL"},
                status_code=403,
            )  # fmt: skip
        try:
            return extensions.install(body.source, kind=body.kind).to_json()
        except ExtensionError as error:
            return _error(error)

    @router.post("/extensions/install/zip")
    def install_zip(file: UploadFile = File(...)) -> Any:  # noqa: B008 (FastAPI's idiom)
        data = file.file.read(MAX_ZIP_BYTES + 1)
        if len(data) > MAX_ZIP_BYTES:
            return JSONResponse({"error": "the zip is larger than 256 MiB"}, status_code=413)
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

    @router.post("/extensions/{name}/enable")
    def enable(name: str) -> Any:
        return action(name, "enable")

    @router.post("/extensions/{name}/disable")
    def disable(name: str) -> Any:
        return action(name, "disable")

    @router.post("/extensions/{name}/update")
    def update(name: str) -> Any:
        return action(name, "update")

    @router.delete("/extensions/{name}")
    def uninstall(name: str) -> Any:
        return action(name, "uninstall")

    return router
