"""The admin's side of the cosmetic shop: create sections, create and edit items (admin role).

Bodies are read field by field, so one 400 names every bad field, including the rules that
tie fields together: a name colour's value is `#rrggbb`, `availableFrom` comes before
`availableUntil`, `quantity` is never below the units already sold, and the kind of an item
someone owns does not change. An edit reaches the names of the users who wear the item (the
change feed carries their cosmetics again)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hub.server import community_schema as schema
from hub.server.auth import require_role
from hub.server.documents import iso
from hub.server.errors import ApiError, not_found
from hub.server.openapi import json_ok, responses
from hub.server.routes.common import SignedIn, hub_of, json_doc
from hub.server.routes.community_http import INT64_MAX, BodyReader, json_body, path_id, read_object
from hub.server.store import Conflict, NotFound
from hub.server.store.shop import KINDS

router = APIRouter(tags=["shop"])
ShopItemId = Annotated[int, Depends(path_id("itemId", "shop item"))]
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_PRICE = 10**9
ITEM_FIELDS = ("sectionId", "kind", "name", "value", "price", "quantity", "availableFrom", "availableUntil")
ITEM_BODY = {
    "sectionId": {"type": "integer", "minimum": 1, "maximum": INT64_MAX},
    "kind": {"type": "string", "enum": list(KINDS)},
    "name": {"type": "string", "minLength": 1, "maxLength": 100},
    "value": {"type": "string", "maxLength": 200, "description": "a name colour: #rrggbb"},
    "price": {"type": "integer", "minimum": 1, "maximum": MAX_PRICE, "description": "in Buzz"},
    "quantity": {"type": ["integer", "null"], "minimum": 0, "description": "null: unlimited"},
    "availableFrom": {"type": ["string", "null"], "format": "date-time"},
    "availableUntil": {"type": ["string", "null"], "format": "date-time"},
}


def _count(reader: BodyReader, name: str, low: int, high: int, nullable: bool = False) -> tuple[bool, Any]:
    """(given, value) of an integer field in [low, high] (or null when `nullable`)."""
    if not reader.has(name):
        return False, None
    value = reader.body[name]
    if value is None and nullable:
        return True, None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        reader.fail(f"{name}: expected an integer from {low} to {high}" + (" or null" if nullable else ""))
        return False, None
    return True, value


def _moment(reader: BodyReader, name: str) -> tuple[bool, str | None]:
    """(given, Civitai timestamp or None) of an ISO 8601 field; a time without zone is UTC."""
    if not reader.has(name):
        return False, None
    value = reader.body[name]
    if value is None:
        return True, None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        reader.fail(f"{name}: expected an ISO 8601 date-time (2026-01-31T12:00:00Z) or null")
        return False, None
    return True, iso(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def item_changes(
    body: dict[str, Any], current: dict[str, Any] | None, section_ok: bool | None
) -> dict[str, Any]:
    """The checked fields of a create (`current` None: sectionId, kind, name and price required)
    or an edit of `current` (the item's admin document); raises one 400 naming every bad field.
    `section_ok`: whether the given sectionId exists (None when not given)."""
    reader = BodyReader(body, ITEM_FIELDS)
    creating = current is None
    changes: dict[str, Any] = {}
    given, section = _count(reader, "sectionId", 1, INT64_MAX)
    if creating and not reader.has("sectionId"):
        reader.fail("sectionId: required")
    if given:
        if section_ok is False:
            reader.fail(f"sectionId: no shop section with id {section}")
        changes["sectionId"] = section
    kind = reader.choice("kind", KINDS, required=creating)
    if kind is not None:
        if current is not None and kind != current["kind"] and current["sold"] > 0:
            reader.fail(f"kind: cannot change once sold ({current['sold']} sold)")
        changes["kind"] = kind
    name = reader.string("name", required=creating, low=1, high=100)
    if name is not None:
        changes["name"] = name
    value = reader.string("value", high=200)
    if value is not None:
        changes["value"] = value
    given, price = _count(reader, "price", 1, MAX_PRICE)
    if creating and not reader.has("price"):
        reader.fail("price: required (Buzz, 1 or more)")
    if given:
        changes["price"] = price
    given, quantity = _count(reader, "quantity", 0, MAX_PRICE, nullable=True)
    if given:
        sold = current["sold"] if current is not None else 0
        if quantity is not None and quantity < sold:
            reader.fail(f"quantity: {sold} already sold, so at least {sold}")
        changes["quantity"] = quantity
    for field in ("availableFrom", "availableUntil"):
        given, moment = _moment(reader, field)
        if given:
            changes[field] = moment
    after = {**(current or {}), **changes}
    if after.get("kind") == "name_color" and not COLOUR.match(after.get("value") or ""):
        reader.fail(f"value: a name colour is #rrggbb, got {after.get('value')!r}")
    start, end = after.get("availableFrom"), after.get("availableUntil")
    if start and end and start >= end:
        reader.fail(f"availableUntil: {end} is not after availableFrom {start}")
    reader.done()
    return changes


@router.post(
    "/api/v1/admin/shop/sections",
    operation_id="createShopSection",
    openapi_extra=json_body(
        {
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "position": {"type": "integer", "minimum": 0, "maximum": 10_000},
        },
        ["name"],
        "a section of that name already there is returned as it is",
    ),
    responses=responses(400, 401, 403, ok=json_ok(schema.ShopSectionRef, "the section")),
)
async def create_section(request: Request, user: SignedIn) -> Response:
    require_role(user, "admin")
    reader = BodyReader(await read_object(request), ("name", "position"))
    name = reader.string("name", required=True, low=1, high=100)
    _given, position = _count(reader, "position", 0, 10_000)
    reader.done()
    assert name is not None
    section_id = await run_in_threadpool(hub_of(request).store.add_shop_section, name, position or 0)
    return json_doc(request, {"id": section_id, "name": name})


@router.post(
    "/api/v1/admin/shop/items",
    operation_id="createShopItem",
    status_code=201,
    openapi_extra=json_body(ITEM_BODY, ["sectionId", "kind", "name", "price"], "a new item on sale"),
    responses=responses(400, 401, 403, ok=json_ok(schema.AdminShopItem, "the new item", 201)),
)
async def create_item(request: Request, user: SignedIn) -> Response:
    require_role(user, "admin")
    body = await read_object(request)
    store = hub_of(request).store
    section = body.get("sectionId")
    section_ok = None
    if isinstance(section, int) and not isinstance(section, bool) and 1 <= section <= INT64_MAX:
        section_ok = await run_in_threadpool(store.shop_section_exists, section)
    fields = item_changes(body, None, section_ok)
    item = await run_in_threadpool(store.create_shop_item, fields["sectionId"], fields)
    return json_doc(request, item, 201)


@router.get(
    "/api/v1/admin/shop/items/{itemId}",
    operation_id="getShopItem",
    responses=responses(400, 401, 403, 404, 422, ok=json_ok(schema.AdminShopItem, "the item")),
)
async def get_item(item_id: ShopItemId, request: Request, user: SignedIn) -> Response:
    require_role(user, "admin")
    try:
        item = await run_in_threadpool(hub_of(request).store.shop_item, item_id)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    return json_doc(request, item)


@router.patch(
    "/api/v1/admin/shop/items/{itemId}",
    operation_id="updateShopItem",
    openapi_extra=json_body(ITEM_BODY, (), "only the fields given change"),
    responses=responses(400, 401, 403, 404, 409, 422, ok=json_ok(schema.AdminShopItem, "the item as edited")),
)
async def update_item(item_id: ShopItemId, request: Request, user: SignedIn) -> Response:
    require_role(user, "admin")
    body = await read_object(request)
    store = hub_of(request).store
    try:
        current = await run_in_threadpool(store.shop_item, item_id)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    section = body.get("sectionId")
    section_ok = None
    if isinstance(section, int) and not isinstance(section, bool) and 1 <= section <= INT64_MAX:
        section_ok = await run_in_threadpool(store.shop_section_exists, section)
    changes = item_changes(body, current, section_ok)
    try:
        item = await run_in_threadpool(store.update_shop_item, item_id, changes)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    except Conflict as exc:  # a purchase landed between the check above and the edit
        raise ApiError(409, str(exc)) from None
    return json_doc(request, item)
