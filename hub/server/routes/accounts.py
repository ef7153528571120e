"""Accounts: register, login (argon2), API keys, roles. Not part of Civitai's public API."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hub.server import api_schema
from hub.server.auth import hash_password, key_hash, new_api_key, require_role, verify_password
from hub.server.errors import ApiError, not_found
from hub.server.openapi import json_ok, responses
from hub.server.params import KeyIdPath
from hub.server.routes.common import SignedIn, hub_of, json_doc
from hub.server.store import Conflict, NotFound

router = APIRouter(tags=["accounts"])
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,39}$")


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(
        description="3-40 letters, digits, '_', '.' or '-', starting with a letter or digit"
    )
    password: str = Field(description="8 to 1024 characters")

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if not USERNAME.match(value):
            raise ValueError("3-40 letters, digits, '_', '.' or '-', starting with a letter or digit")
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: str) -> str:
        if not 8 <= len(value) <= 1024:
            raise ValueError("8 to 1024 characters")
        return value


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str
    password: str
    keyName: str = Field("login", min_length=1, max_length=100, description="a name for the new key")


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("api", min_length=1, max_length=100)


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "moderator", "admin"]


@router.post(
    "/api/v1/auth/register",
    operation_id="register",
    status_code=201,
    responses=responses(
        400, 409, ok=json_ok(api_schema.Account, "the new account and its first API key", 201)
    ),
)
async def register(request: Request, body: Registration) -> Response:
    hub = hub_of(request)
    digest = await run_in_threadpool(hash_password, hub.hasher, body.password)
    try:
        user = await run_in_threadpool(hub.store.create_user, body.username, digest)
    except Conflict as exc:
        raise ApiError(409, str(exc)) from None
    key = new_api_key()
    await run_in_threadpool(hub.store.add_api_key, user.id, key_hash(key), "register")
    return json_doc(
        request, {"id": user.id, "username": user.username, "role": user.role, "apiKey": key}, 201
    )


@router.post(
    "/api/v1/auth/login",
    operation_id="login",
    responses=responses(400, 401, ok=json_ok(api_schema.Account, "the account and a new API key")),
)
async def login(request: Request, body: Login) -> Response:
    hub = hub_of(request)
    user = await run_in_threadpool(hub.store.user_by_name, body.username)
    stored = user.password_hash if user else None
    ok = await run_in_threadpool(verify_password, hub.hasher, stored, body.password)
    if not user or not ok:
        raise ApiError(401, "Invalid username or password")
    key = new_api_key()
    await run_in_threadpool(hub.store.add_api_key, user.id, key_hash(key), body.keyName)
    return json_doc(request, {"id": user.id, "username": user.username, "role": user.role, "apiKey": key})


@router.get(
    "/api/v1/auth/keys",
    operation_id="listApiKeys",
    responses=responses(401, ok=json_ok(api_schema.ApiKeyList, "the caller's keys (names, not secrets)")),
)
def list_keys(request: Request, user: SignedIn) -> Response:
    return json_doc(request, {"items": hub_of(request).store.list_api_keys(user.id)})


@router.post(
    "/api/v1/auth/keys",
    operation_id="createApiKey",
    status_code=201,
    responses=responses(400, 401, ok=json_ok(api_schema.NewApiKey, "the new key (shown once)", 201)),
)
async def create_key(request: Request, user: SignedIn, body: KeyRequest | None = None) -> Response:
    name = (body or KeyRequest()).name
    key = new_api_key()
    key_id = await run_in_threadpool(hub_of(request).store.add_api_key, user.id, key_hash(key), name)
    return json_doc(request, {"id": key_id, "name": name, "apiKey": key}, 201)


@router.delete(
    "/api/v1/auth/keys/{keyId}",
    operation_id="deleteApiKey",
    status_code=204,
    responses=responses(400, 401, 404, 422, ok={204: {"description": "the key is revoked"}}),
)
def delete_key(key_id: KeyIdPath, request: Request, user: SignedIn) -> Response:
    hub = hub_of(request)
    try:
        hub.store.delete_api_key(user.id, key_id)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    hub.forget_keys()
    return Response(status_code=204)


@router.put(
    "/api/v1/users/{username}/role",
    operation_id="setUserRole",
    responses=responses(400, 401, 403, 404, ok=json_ok(api_schema.AccountRole, "the account's new role")),
)
async def set_role(
    username: Annotated[str, PathParam(description="the account to change")],
    request: Request,
    user: SignedIn,
    body: Annotated[RoleChange, Body()],
) -> Response:
    require_role(user, "admin")
    hub = hub_of(request)
    try:
        changed = await run_in_threadpool(hub.store.set_role, username, body.role)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    hub.forget_keys()
    return json_doc(request, {"id": changed.id, "username": changed.username, "role": changed.role})
