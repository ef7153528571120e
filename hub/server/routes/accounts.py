"""Accounts: register, login (argon2), API keys, roles. Not part of Civitai's public API."""

from __future__ import annotations

import json
import re

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hub.server.auth import hash_password, key_hash, new_api_key, require_role, require_user, verify_password
from hub.server.enums import ROLES
from hub.server.errors import ApiError, bad_request, not_found
from hub.server.routes.common import hub_of, json_doc, user_of
from hub.server.store import Conflict, NotFound

router = APIRouter()
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,39}$")


async def _object_body(request: Request) -> dict:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise bad_request("body: not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("body: expected a JSON object")
    return body


def _credentials(body: dict) -> tuple[str, str]:
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not USERNAME.match(username):
        raise bad_request("username: 3-40 letters, digits, '_', '.' or '-', starting with a letter or digit")
    if not isinstance(password, str) or not 8 <= len(password) <= 1024:
        raise bad_request("password: 8 to 1024 characters")
    return username, password


@router.post("/api/v1/auth/register")
async def register(request: Request) -> Response:
    username, password = _credentials(await _object_body(request))
    hub = hub_of(request)
    digest = await run_in_threadpool(hash_password, hub.hasher, password)
    try:
        user = await run_in_threadpool(hub.store.create_user, username, digest)
    except Conflict as exc:
        raise ApiError(409, str(exc)) from None
    key = new_api_key()
    await run_in_threadpool(hub.store.add_api_key, user.id, key_hash(key), "register")
    return json_doc(
        request, {"id": user.id, "username": user.username, "role": user.role, "apiKey": key}, 201
    )


@router.post("/api/v1/auth/login")
async def login(request: Request) -> Response:
    body = await _object_body(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise bad_request("username and password: required strings")
    hub = hub_of(request)
    user = await run_in_threadpool(hub.store.user_by_name, username)
    ok = await run_in_threadpool(verify_password, hub.hasher, user.password_hash if user else None, password)
    if not user or not ok:
        raise ApiError(401, "Invalid username or password")
    name = body.get("keyName") if isinstance(body.get("keyName"), str) else "login"
    key = new_api_key()
    await run_in_threadpool(hub.store.add_api_key, user.id, key_hash(key), name[:100])
    return json_doc(request, {"id": user.id, "username": user.username, "role": user.role, "apiKey": key})


@router.get("/api/v1/auth/keys")
def list_keys(request: Request) -> Response:
    user = require_user(user_of(request))
    return json_doc(request, {"items": hub_of(request).store.list_api_keys(user.id)})


@router.post("/api/v1/auth/keys")
async def create_key(request: Request) -> Response:
    user = require_user(user_of(request))
    body = await _object_body(request)
    name = body.get("name", "api")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise bad_request("name: 1 to 100 characters")
    key = new_api_key()
    key_id = await run_in_threadpool(hub_of(request).store.add_api_key, user.id, key_hash(key), name)
    return json_doc(request, {"id": key_id, "name": name, "apiKey": key}, 201)


@router.delete("/api/v1/auth/keys/{key_id}")
def delete_key(key_id: int, request: Request) -> Response:
    user = require_user(user_of(request))
    hub = hub_of(request)
    try:
        hub.store.delete_api_key(user.id, key_id)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    hub.forget_keys()
    return Response(status_code=204)


@router.put("/api/v1/users/{username}/role")
async def set_role(username: str, request: Request) -> Response:
    require_role(user_of(request), "admin")
    role = (await _object_body(request)).get("role")
    if role not in ROLES:
        raise bad_request(f"role: must be one of {', '.join(ROLES)}")
    hub = hub_of(request)
    try:
        user = await run_in_threadpool(hub.store.set_role, username, role)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    hub.forget_keys()
    return json_doc(request, {"id": user.id, "username": user.username, "role": user.role})
