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
`build_a1111_router(scripts)` serves A1111's `/sdapi/v1/scripts` and `/sdapi/v1/script-info`.
Errors answer `{"error": "..."}` with a fitting status.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from studio.scripts.extensions.manager import ExtensionManager
from studio.scripts.extensions.manifest import ExtensionError
from studio.scripts.manager import ScriptManager

MAX_ZIP_BYTES = 256 * 1024 * 1024


class InstallBody(BaseModel):
    source: str
    kind: str = "auto"


def _error(error: ExtensionError) -> JSONResponse:
    return JSONResponse({"error": str(error)}, status_code=error.status)


def build_router(scripts: ScriptManager, extensions: ExtensionManager | None) -> APIRouter:
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

    if extensions is None:
        return router

    @router.get("/extensions")
    def list_extensions() -> list[dict[str, Any]]:
        return [info.to_json() for info in extensions.list()]

    @router.post("/extensions/install")
    def install(body: InstallBody) -> Any:
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


def build_a1111_router(scripts: ScriptManager) -> APIRouter:
    """A1111's script listing: selectable script names (lower case, as A1111) per tab."""
    router = APIRouter(prefix="/sdapi/v1", tags=["a1111"])

    @router.get("/scripts")
    def list_scripts() -> dict[str, list[str]]:
        names = [name.lower() for name in scripts.names("selectable")]
        return {"txt2img": names, "img2img": names}

    @router.get("/script-info")
    def script_info() -> list[dict[str, Any]]:
        info = []
        for described in scripts.describe():
            properties = described.get("schema", {}).get("properties", {})
            arguments = [
                {"label": schema.get("title", key), "value": schema.get("default"), "minimum": schema.get("minimum"),
                 "maximum": schema.get("maximum"), "step": None, "choices": schema.get("enum")}
                for key, schema in properties.items()
            ]  # fmt: skip
            for tab in ("txt2img", "img2img"):
                info.append({
                    "name": described["name"].lower(),
                    "is_alwayson": described["kind"] == "alwayson",
                    "is_img2img": tab == "img2img",
                    "args": arguments,
                })  # fmt: skip
        return info

    return router


def build_extension_api_router(scripts: ScriptManager, services: Any) -> APIRouter:
    """Routes that scripts and extensions add through the `api` hook, each under
    `/studio/v1/ext/<extension or script name>`."""
    parent = APIRouter(prefix="/studio/v1/ext", tags=["extensions"])
    routers: dict[str, APIRouter] = {}

    def router_for(owner: str) -> APIRouter:
        return routers.setdefault(owner, APIRouter(prefix=f"/{owner}"))

    scripts.call_api(router_for, services)
    for router in routers.values():
        parent.include_router(router)
    return parent
