"""The prompt library under /studio/v1: styles, and the Extra Networks cards with their previews.

GET    /styles                      every style, in styles.csv order: [{name, prompt, negative_prompt}]
GET    /styles/{name}               one style
PUT    /styles/{name}               create or update it; {"name": other} in the body renames it
DELETE /styles/{name}               delete it
POST   /styles/import               merge an A1111 styles.csv (the request body, text/csv)
GET    /networks?kind=&search=      cards: checkpoints, LoRAs, embeddings or wildcards
GET    /networks/{kind}/preview?name=   a card's preview image (the sidecar file beside the model)

A1111 clients read the styles at /sdapi/v1/prompt-styles (studio.http.a1111).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict

from studio.http.errors import COMMON_RESPONSES, NOT_FOUND, StrictJsonRoute
from studio.network_cards import KINDS, NetworkCard, cards_for, find_card
from studio.prompts.styles import PromptStyle
from studio.request import RequestError

if TYPE_CHECKING:
    from studio.http.services import HttpServices

MAX_IMPORT_BYTES = 4 * 2**20
PREVIEW_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
}


class StyleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None  # a new name (renames); the path's name when absent
    prompt: str = ""
    negative_prompt: str = ""


def cards_of(services: HttpServices, kind: str) -> list[NetworkCard]:
    engine = services.engine
    return cards_for(kind, engine.registry, engine.prompt_library.wildcards)


def build_router(services: HttpServices) -> APIRouter:
    router = APIRouter(
        prefix="/studio/v1",
        tags=["Atelier prompt library"],
        route_class=StrictJsonRoute,
        responses=COMMON_RESPONSES,
    )

    def styles() -> Any:
        return services.engine.prompt_library.styles

    @router.get("/styles")
    def list_styles() -> list[dict[str, str]]:
        return [style.to_json() for style in styles().styles()]

    @router.post("/styles/import")
    async def import_styles(request: Request) -> dict[str, Any]:
        data = await request.body()
        if not data:
            raise RequestError("file", "send an A1111 styles.csv as the request body")
        if len(data) > MAX_IMPORT_BYTES:
            raise RequestError("file", f"larger than {MAX_IMPORT_BYTES // 2**20} MB")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise RequestError("file", f"not UTF-8 text ({error})") from error
        names = styles().import_csv(text)
        return {"imported": names, "styles": [style.to_json() for style in styles().styles()]}

    @router.get("/styles/{name:path}", responses={404: NOT_FOUND})
    def get_style(name: str) -> dict[str, str]:
        try:
            return styles().get(name).to_json()
        except RequestError as error:
            raise HTTPException(status_code=404, detail=error.message) from error

    @router.put("/styles/{name:path}")
    def put_style(name: str, body: StyleBody) -> dict[str, str]:
        library = styles()
        new_name = name if body.name is None else body.name
        exists = name in library.names()
        style = PromptStyle(new_name, body.prompt, body.negative_prompt)
        return library.save(style, replace=name if exists else None).to_json()

    @router.delete("/styles/{name:path}", responses={404: NOT_FOUND})
    def delete_style(name: str) -> dict[str, Any]:
        library = styles()
        if name not in library.names():
            raise HTTPException(status_code=404, detail=f"no style named {name!r}")
        library.delete(name)
        return {"deleted": name}

    @router.get("/networks")
    def list_networks(
        kind: Annotated[str, Query(description=f"one of {', '.join(KINDS)}")],
        search: Annotated[str, Query(description="words that must all appear")] = "",
    ) -> dict[str, Any]:
        cards = [card for card in cards_of(services, kind) if card.matches(search)]
        items = []
        for card in cards:
            item = card.to_json()
            if card.preview is not None:
                item["preview_url"] = f"/studio/v1/networks/{kind}/preview?name={_quote(card.title)}"
            items.append(item)
        return {"kind": kind, "items": items}

    @router.get("/networks/{kind}/preview", response_class=FileResponse, responses={404: NOT_FOUND})
    def preview(kind: str, name: Annotated[str, Query()]) -> FileResponse:
        card = find_card(cards_of(services, kind), name)
        if card is None or card.preview is None or not card.preview.is_file():
            raise HTTPException(status_code=404, detail=f"no preview for {kind} {name!r}")
        media = PREVIEW_TYPES.get(card.preview.suffix.lower(), "application/octet-stream")
        return FileResponse(card.preview, media_type=media, headers={"Cache-Control": "no-cache"})

    return router


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
