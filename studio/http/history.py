"""The history under /studio/v1: every saved image and X/Y/Z grid, as the History tab shows it.

GET    /history?q=&model=&mode=&kind=&since=&until=&grid=&offset=&limit=
                               newest first: {"total", "items": [entry]}; `q` matches a substring
                               of the prompt or the infotext; `kind` image | grid; `grid` lists
                               the cells of that grid; `since` / `until` Unix times
GET    /history/{id}           one entry; a grid's has `cells` (its cells' entries)
GET    /history/{id}/image     the saved image file
DELETE /history/{id}           the entry and its file (a grid's cells stay, as images)

An entry: {id, created_at, prompt, seed, infotext, kind ("image" | "grid"), grid_id (the grid
an image is a cell of, or null), mode, image_url (null when the file is gone), request}.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

import sqlitedb
from studio.history import KINDS, MODES, HistoryEntry, HistoryFilter
from studio.http.errors import COMMON_RESPONSES, NOT_FOUND, StrictJsonRoute
from studio.request import Problems, RequestError

if TYPE_CHECKING:
    from studio.http.services import HttpServices

MAX_ID = sqlitedb.MAX_INTEGER  # a larger id is a 422, never a 500
MAX_PAGE = 500
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
HistoryId = Annotated[int, PathParam(ge=1, le=MAX_ID)]


def entry_json(entry: HistoryEntry) -> dict[str, Any]:
    request = entry.request
    mode = "inpaint" if request.get("mask") else ("img2img" if request.get("init_images") else "txt2img")
    exists = bool(entry.path) and Path(entry.path or "").is_file()
    return {
        "id": entry.id,
        "created_at": entry.created_at,
        "prompt": entry.prompt,
        "seed": entry.seed,
        "infotext": entry.infotext,
        "kind": entry.kind,
        "grid_id": entry.grid_id,
        "mode": mode,
        "image_url": f"/studio/v1/history/{entry.id}/image" if exists else None,
        "request": request,
    }


def build_router(services: HttpServices) -> APIRouter:
    router = APIRouter(
        prefix="/studio/v1",
        tags=["Atelier history"],
        route_class=StrictJsonRoute,
        responses=COMMON_RESPONSES,
    )

    def history() -> Any:
        return services.engine.history

    def found(entry_id: int) -> HistoryEntry:
        entry = history().get(entry_id)
        if entry is None:
            raise HTTPException(status_code=404, detail=f"history entry {entry_id}: no such entry")
        return entry

    @router.get("/history")
    def list_history(
        q: Annotated[str, Query(description="a substring of the prompt or the infotext")] = "",
        model: Annotated[str, Query(description="the model as the infotext names it")] = "",
        mode: Annotated[str, Query(description=f"one of {', '.join(MODES)}")] = "",
        kind: Annotated[str, Query(description=f"one of {', '.join(KINDS)}")] = "",
        since: Annotated[float | None, Query(description="Unix time, included")] = None,
        until: Annotated[float | None, Query(description="Unix time, excluded")] = None,
        grid: Annotated[int | None, Query(ge=1, le=MAX_ID, description="the cells of this grid")] = None,
        offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
        limit: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 50,
    ) -> dict[str, Any]:
        problems = Problems()  # every bad filter in one 422
        if mode and mode not in MODES:
            problems.add(RequestError("mode", f"expected one of {', '.join(MODES)}, got {mode!r}"))
        if kind and kind not in KINDS:
            problems.add(RequestError("kind", f"expected one of {', '.join(KINDS)}, got {kind!r}"))
        problems.raise_any()
        filters = HistoryFilter(
            model=model or None,
            mode=mode or None,
            since=since,
            until=until,
            kind=kind or None,
            grid_id=grid,
        )
        query = q or None
        entries = history().list(offset, limit, query, filters)
        return {"total": history().count(query, filters), "items": [entry_json(entry) for entry in entries]}

    @router.get("/history/{entry_id}", responses={404: NOT_FOUND})
    def get_entry(entry_id: HistoryId) -> dict[str, Any]:
        entry = found(entry_id)
        data = entry_json(entry)
        if entry.kind == "grid":
            data["cells"] = [entry_json(cell) for cell in history().cells(entry.id)]
        return data

    @router.get("/history/{entry_id}/image", response_class=FileResponse, responses={404: NOT_FOUND})
    def image(entry_id: HistoryId) -> FileResponse:
        entry = found(entry_id)
        path = Path(entry.path or "")
        if not entry.path or not path.is_file():
            raise HTTPException(status_code=404, detail=f"history entry {entry_id}: its file is gone")
        return FileResponse(path, media_type=IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream"))

    @router.delete("/history/{entry_id}", responses={404: NOT_FOUND})
    def delete(entry_id: HistoryId) -> dict[str, Any]:
        found(entry_id)
        history().delete(entry_id)
        return {"deleted": entry_id}

    return router
