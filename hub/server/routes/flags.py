"""Feature flags: the set that applies to the caller, the rules (admin) and users' cohorts
(admin). Atelier's own routes."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Body, Path, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hub.server import community_schema as schema
from hub.server.auth import require_role
from hub.server.errors import not_found
from hub.server.openapi import json_ok, responses
from hub.server.routes.common import OPTIONAL_AUTH, Caller, SignedIn, hub_of, json_doc
from hub.server.store import NotFound

router = APIRouter(tags=["feature flags"])
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
Name = Field(min_length=1, max_length=64)


class FlagRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(True, description="off for everyone when false")
    users: list[str] = Field(default_factory=list, max_length=1000, description="usernames always on")
    roles: list[str] = Field(default_factory=list, description="roles always on (user, moderator, admin)")
    cohorts: list[str] = Field(default_factory=list, max_length=100, description="cohorts always on")
    percent: int = Field(
        0, ge=0, le=100, description="stable share of everyone else (100: all, anonymous too)"
    )

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: list[str]) -> list[str]:
        bad = [r for r in value if r not in ("user", "moderator", "admin")]
        if bad:
            raise ValueError(f"unknown roles {bad}: user, moderator or admin")
        return value


class CohortList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cohorts: list[str] = Field(max_length=100, description="the user's cohorts (replaces the old list)")

    @field_validator("cohorts")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        bad = [c for c in value if not NAME.match(c)]
        if bad:
            raise ValueError(f"bad cohort names {bad}: lowercase letters, digits, '_', '.', '-'")
        return sorted(set(value))


@router.get(
    "/api/v1/flags",
    operation_id="getMyFlags",
    openapi_extra=OPTIONAL_AUTH,
    responses=responses(ok=json_ok(schema.FlagSet, "every flag, on or off for the caller")),
)
async def my_flags(request: Request, user: Caller) -> Response:
    flags = await run_in_threadpool(hub_of(request).flags_for, user)
    return json_doc(request, {"flags": flags})


@router.get(
    "/api/v1/admin/flags",
    operation_id="listFlagRules",
    responses=responses(401, 403, ok=json_ok(schema.FlagRules, "every flag's rule")),
)
async def list_rules(request: Request, user: SignedIn) -> Response:
    require_role(user, "admin")
    return json_doc(request, {"items": await run_in_threadpool(hub_of(request).store.feature_flags)})


@router.put(
    "/api/v1/admin/flags/{name}",
    operation_id="setFlagRule",
    responses=responses(400, 401, 403, ok=json_ok(schema.FeatureFlag, "the flag's new rule")),
)
async def set_rule(
    name: Annotated[str, Path(pattern=NAME.pattern, description="the flag")],
    request: Request,
    user: SignedIn,
    body: Annotated[FlagRule, Body()],
) -> Response:
    require_role(user, "admin")
    hub = hub_of(request)
    await run_in_threadpool(hub.store.set_flag, name, body.model_dump())
    return json_doc(request, {"name": name, **body.model_dump()})


@router.put(
    "/api/v1/admin/users/{username}/cohorts",
    operation_id="setUserCohorts",
    responses=responses(400, 401, 403, 404, ok=json_ok(schema.Cohorts, "the user's cohorts")),
)
async def set_cohorts(
    username: Annotated[str, Path(description="the account")],
    request: Request,
    user: SignedIn,
    body: Annotated[CohortList, Body()],
) -> Response:
    require_role(user, "admin")
    hub = hub_of(request)
    try:
        await run_in_threadpool(hub.store.set_cohorts, username, body.cohorts)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    return json_doc(request, {"username": username, "cohorts": body.cohorts})
