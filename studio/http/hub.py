"""The local hub under /studio/v1/hub: what the Hub tab asks (it never talks to the hub server).

GET  /hub/search?q=&kind=&types=&base_models=&tags=&creator=&nsfw=&sort=&page=&page_size=
                                     a page of the mirror: {total, page, items, facets, took_ms}
GET  /hub/models/{id}                a mirrored model with localPreviews and each file's onDisk
GET  /hub/articles/{id}              a mirrored article (its content as the server sanitized it)
GET  /hub/notifications              the account's notifications as of the last sync
GET  /hub/previews/{path}            a preview image cached at sync (served offline)
POST /hub/downloads                  {"versionId", "fileId"?}: queue a download -> {"job"}
GET  /hub/downloads                  the download queue with bytes done / total and outcome
POST /hub/downloads/{versionId}/pause | /resume | /cancel
GET  /hub/local                      the files in models/, linked to the catalog by hash or not
POST /hub/scan                       hash the files in models/ and link them (then list them)
POST /hub/sync                       {"server"?, "apiKey"?}: save them (as PUT /hub/account), queue a sync
GET  /hub/sync                       server, last sync time, the newest sync job, its progress
GET  /hub/account                    {server, apiKey (masked: never in full), hasApiKey}
PUT  /hub/account                    {"server"?, "apiKey"?}: saved with the studio's settings
                                     (config file: hub_server, hub_api_key); null or "" forgets one
GET  /hub/status                     {unread, outboxPending, modelsVersion}: what every page polls
GET  /hub/wallet                     Buzz balance and transactions as of the last sync, pending tips
POST /hub/wallet/tips                {"to", "amount", "memo"?}: queued in the outbox -> {"entry"}
GET  /hub/shop                       the shop's sections and the owned cosmetics (last sync)
POST /hub/shop/{itemId}/buy          queued in the outbox -> {"entry"}
PUT|DELETE /hub/shop/{itemId}/equip  equip / unequip an owned cosmetic (online)
GET  /hub/outbox                     the offline actions, newest first, with state and error
POST /hub/outbox/{id}/retry          a refused entry back to pending, and a sync queued -> {"job"}

Bad input is a 422 naming the fields; an id the mirror lacks is a 404.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

import sqlitedb
from hub.search import SearchError, SearchQuery
from hub.sync import HubUnavailable
from studio.config import ConfigError
from studio.http.errors import COMMON_RESPONSES, NOT_FOUND, StrictJsonRoute
from studio.hub_service import ACCOUNT_FIELDS
from studio.request import RequestError

MAX_ID = sqlitedb.MAX_INTEGER  # a larger id is a 422, never a 500
HubId = Annotated[int, Path(ge=1, le=MAX_ID)]

if TYPE_CHECKING:
    from studio.http.services import HttpServices
    from studio.hub_service import StudioHub


API_KEY_PATTERN = r"^[^\s\u2022]*$"  # no spaces, not a masked key (it starts with "••••")


class DownloadBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    versionId: int = Field(ge=1)
    fileId: int | None = Field(default=None, ge=1)


class SyncBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    server: str | None = Field(default=None, pattern=r"^https?://\S+$")
    apiKey: str | None = Field(default=None, max_length=500, pattern=API_KEY_PATTERN)


class AccountBody(BaseModel):
    """Only the fields given change; null or "" forgets one."""

    model_config = ConfigDict(extra="forbid")

    server: str | None = Field(default=None, pattern=r"^(https?://\S+)?$")
    apiKey: str | None = Field(default=None, max_length=500, pattern=API_KEY_PATTERN)


class TipBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=1, max_length=100)
    amount: int = Field(ge=1, le=1_000_000)
    memo: str = Field(default="", max_length=500)


def _split(values: list[str]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def build_router(services: HttpServices) -> APIRouter:
    router = APIRouter(
        prefix="/studio/v1/hub",
        tags=["Atelier hub"],
        route_class=StrictJsonRoute,
        responses=COMMON_RESPONSES,
    )

    def hub() -> StudioHub:
        if services.hub is None:
            raise HTTPException(503, "this studio has no local hub")
        return services.hub

    @router.get("/search")
    def search(
        q: str = "",
        kind: Literal["model", "article", "all"] = "model",
        types: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI reads the default)
        base_models: Annotated[list[str], Query()] = [],  # noqa: B006
        tags: Annotated[list[str], Query()] = [],  # noqa: B006
        creator: str = "",
        nsfw: Literal["any", "hide", "only"] = "hide",
        sort: Literal["relevance", "downloads", "rating", "newest"] = "relevance",
        page: Annotated[int, Query(ge=1, le=10_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=200)] = 20,
    ) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            query = SearchQuery(
                text=q,
                types=_split(types),
                base_models=_split(base_models),
                tags=_split(tags),
                creator=creator.strip() or None,
                nsfw={"any": None, "hide": False, "only": True}[nsfw],
                sort=sort,
                page=page,
                page_size=page_size,
                as_you_type=True,
                kind=None if kind == "all" else kind,
            )
        except SearchError as error:
            field, _, message = str(error).partition(": ")
            raise RequestError(field, message) from error
        found = hub().search(query)
        return {
            "total": found.result.total,
            "page": found.result.page,
            "pageSize": found.result.page_size,
            "items": found.items,
            "facets": found.result.facets,
            "fuzzy": found.result.fuzzy_used,
            "indexBehind": found.index_behind,
            "tookMs": round((time.perf_counter() - started) * 1000, 2),
        }

    @router.get("/models/{model_id}", responses={404: NOT_FOUND})
    def model(model_id: HubId) -> dict[str, Any]:
        found = hub().model(model_id)
        if found is None:
            raise HTTPException(404, f"model {model_id} is not in the local mirror (sync first)")
        return found

    @router.get("/articles/{article_id}", responses={404: NOT_FOUND})
    def article(article_id: HubId) -> dict[str, Any]:
        found = hub().article(article_id)
        if found is None:
            raise HTTPException(404, f"article {article_id} is not in the local mirror")
        return found

    @router.get("/notifications")
    def notifications() -> dict[str, Any]:
        return hub().notifications()

    @router.get("/previews/{name:path}", responses={404: NOT_FOUND})
    def preview(name: str) -> FileResponse:
        path = hub().preview_file(name)
        if path is None:
            raise HTTPException(404, "no such preview")
        return FileResponse(path, headers={"Cache-Control": "max-age=86400"})

    @router.post("/downloads")
    def download(body: DownloadBody) -> dict[str, int]:
        try:
            return {"job": hub().download(body.versionId, body.fileId)}
        except KeyError as error:
            raise RequestError("versionId", f"version {body.versionId} is not in the local mirror") from error

    @router.get("/downloads")
    def downloads() -> list[dict[str, Any]]:
        return hub().downloads()

    @router.post("/downloads/{version_id}/{action}", responses={404: NOT_FOUND})
    def control(version_id: int, action: Literal["pause", "resume", "cancel"]) -> dict[str, Any]:
        if action == "pause":
            return {"stopped": hub().pause(version_id)}
        if action == "cancel":
            return {"stopped": hub().cancel(version_id)}
        try:
            return {"job": hub().download(version_id)}
        except KeyError as error:
            raise RequestError("versionId", f"version {version_id} is not in the local mirror") from error

    @router.get("/local")
    def local() -> list[dict[str, Any]]:
        return hub().local_files()

    @router.post("/scan")
    def scan() -> dict[str, Any]:
        return hub().scan()

    def save_account(changes: dict[str, str | None]) -> None:
        try:
            # saved with the studio's other settings (one store: studio.options), then handed
            # to the local hub
            new_config = services.options.save_settings(changes)
            hub().use_account({name: getattr(new_config, name) for name in changes})
        except ConfigError as error:
            field = ACCOUNT_FIELDS.get(error.field, error.field)
            raise RequestError(field, str(error).removeprefix(f"{error.field}: ")) from error

    @router.post("/sync")
    def sync(body: SyncBody) -> dict[str, int]:
        changes = {"hub_server": body.server, "hub_api_key": body.apiKey}
        given = {name: value for name, value in changes.items() if value}
        if given:
            save_account(given)
        try:
            return {"job": hub().sync()}
        except ValueError as error:
            raise RequestError("server", "no hub server given and none saved (Settings)") from error

    @router.get("/sync")
    def sync_status() -> dict[str, Any]:
        return hub().sync_status()

    @router.get("/account")
    def account() -> dict[str, Any]:
        return hub().account()

    @router.put("/account")
    def put_account(body: AccountBody) -> dict[str, Any]:
        given = body.model_dump(exclude_unset=True)
        save_account({name: given[api] for name, api in ACCOUNT_FIELDS.items() if api in given})
        return hub().account()

    @router.get("/status")
    def status() -> dict[str, Any]:
        return hub().status()

    @router.get("/wallet")
    def wallet() -> dict[str, Any]:
        return hub().wallet()

    @router.post("/wallet/tips")
    def tip(body: TipBody) -> dict[str, int]:
        return {"entry": queued(lambda: hub().tip(body.to, body.amount, body.memo))}

    @router.get("/shop")
    def shop() -> dict[str, Any]:
        return hub().shop()

    @router.post("/shop/{item_id}/buy")
    def buy(item_id: HubId) -> dict[str, int]:
        return {"entry": queued(lambda: hub().buy(item_id))}

    @router.put("/shop/{item_id}/equip")
    def equip(item_id: HubId) -> dict[str, Any]:
        return online(lambda: hub().equip(item_id, True))

    @router.delete("/shop/{item_id}/equip")
    def unequip(item_id: HubId) -> dict[str, Any]:
        return online(lambda: hub().equip(item_id, False))

    @router.get("/outbox")
    def outbox() -> list[dict[str, Any]]:
        return hub().outbox()

    @router.post("/outbox/{entry_id}/retry", responses={404: NOT_FOUND})
    def retry(entry_id: HubId) -> dict[str, int]:
        if not hub().retry(entry_id):
            raise HTTPException(404, f"outbox entry {entry_id} is not waiting nor refused")
        try:
            return {"job": hub().sync()}
        except ValueError as error:
            raise RequestError("server", "no hub server saved (Settings)") from error

    return router


def queued(add: Any) -> int:
    """An outbox entry added by `add()`; its ValueError ("field: why") is a 422 naming the field."""
    try:
        return int(add())
    except ValueError as error:
        field, _, message = str(error).partition(": ")
        raise RequestError(field, message) from error


def online(call: Any) -> dict[str, Any]:
    """An action that needs the hub server now: unreachable or refused is a 422 saying why."""
    try:
        return dict(call())
    except ValueError as error:
        field, _, message = str(error).partition(": ")
        raise RequestError("apiKey" if field == "--api-key" else "server", message or str(error)) from error
    except HubUnavailable as error:
        raise RequestError("server", str(error)) from error
