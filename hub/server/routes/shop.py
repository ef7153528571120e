"""The cosmetic shop: sections and items priced in Buzz, purchases (idempotency key; no
oversell), what the caller owns, equip / unequip, and a user's profile with what they have
equipped. Atelier's own routes, behind the `shop` feature flag."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hub.server import community_schema as schema
from hub.server.errors import ApiError, not_found
from hub.server.openapi import json_ok, responses
from hub.server.params import INT64_MAX, INT64_MIN
from hub.server.routes.common import OPTIONAL_AUTH, Caller, SignedIn, hub_of, json_doc
from hub.server.store import Conflict, NotFound
from hub.server.store.buzz import InsufficientFunds
from hub.server.store.shop import SoldOut

router = APIRouter(tags=["shop"])
ItemIdPath = Annotated[
    int, Path(alias="itemId", ge=INT64_MIN, le=INT64_MAX, description="the shop item's id")
]


class PurchaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    idempotencyKey: str = Field(
        min_length=1, max_length=200, description="unique per purchase: repeating it returns the first result"
    )


@router.get(
    "/api/v1/shop",
    operation_id="getShop",
    openapi_extra=OPTIONAL_AUTH,
    responses=responses(404, ok=json_ok(schema.ShopCatalog, "the sections and the items on sale now")),
)
async def get_shop(request: Request, user: Caller) -> Response:
    hub = hub_of(request)
    hub.require_flag("shop", user)
    sections = await run_in_threadpool(hub.store.shop_catalog)
    return json_doc(request, {"sections": sections})


@router.post(
    "/api/v1/shop/items/{itemId}/purchase",
    operation_id="buyShopItem",
    responses=responses(
        400,
        401,
        402,
        404,
        409,
        422,
        ok=json_ok(schema.Purchase, "bought (or the first purchase with this key)"),
    ),
)
async def buy(
    item_id: ItemIdPath, request: Request, user: SignedIn, body: Annotated[PurchaseRequest, Body()]
) -> Response:
    hub = hub_of(request)
    hub.require_flag("shop", user)
    try:
        done = await run_in_threadpool(hub.store.purchase, user.id, item_id, body.idempotencyKey)
    except InsufficientFunds as exc:
        raise ApiError(402, str(exc)) from None
    except (SoldOut, Conflict) as exc:
        raise ApiError(409, str(exc)) from None
    except NotFound as exc:
        raise not_found(str(exc)) from None
    return json_doc(request, done)


@router.get(
    "/api/v1/shop/owned",
    operation_id="listOwnedItems",
    responses=responses(401, 404, ok=json_ok(schema.OwnedItems, "the caller's items, equipped or not")),
)
async def owned(request: Request, user: SignedIn) -> Response:
    hub = hub_of(request)
    hub.require_flag("shop", user)
    return json_doc(request, {"items": await run_in_threadpool(hub.store.owned_items, user.id)})


async def _equip(request: Request, user_id: int, item_id: int, equipped: bool) -> Response:
    hub = hub_of(request)
    try:
        await run_in_threadpool(hub.store.set_equipped, user_id, item_id, equipped)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    return json_doc(request, {"itemId": item_id, "equipped": equipped})


@router.put(
    "/api/v1/shop/items/{itemId}/equip",
    operation_id="equipItem",
    responses=responses(
        400, 401, 404, 422, ok=json_ok(schema.Equipped, "equipped (others of its kind unequipped)")
    ),
)
async def equip(item_id: ItemIdPath, request: Request, user: SignedIn) -> Response:
    hub_of(request).require_flag("shop", user)
    return await _equip(request, user.id, item_id, True)


@router.delete(
    "/api/v1/shop/items/{itemId}/equip",
    operation_id="unequipItem",
    responses=responses(400, 401, 404, 422, ok=json_ok(schema.Equipped, "unequipped")),
)
async def unequip(item_id: ItemIdPath, request: Request, user: SignedIn) -> Response:
    hub_of(request).require_flag("shop", user)
    return await _equip(request, user.id, item_id, False)


@router.get(
    "/api/v1/users/{username}",
    operation_id="getUserProfile",
    openapi_extra=OPTIONAL_AUTH,
    responses=responses(404, ok=json_ok(schema.Profile, "the user and the cosmetics they have equipped")),
)
async def profile(
    username: Annotated[str, Path(description="the account")], request: Request, user: Caller
) -> Response:
    hub = hub_of(request)
    found = await run_in_threadpool(hub.store.user_by_name, username)
    if found is None:
        raise not_found(f"user {username!r} not found")
    cosmetics = {}
    if hub.flags_for(user).get("shop"):
        cosmetics = (await run_in_threadpool(hub.store.cosmetics_of, [found.id])).get(found.id, {})
    return json_doc(
        request,
        {"id": found.id, "username": found.username, "modelCount": found.model_count, "cosmetics": cosmetics},
    )
