"""Buzz: balance, history, tips, the daily-login reward and (admin) grants, under
`/api/v1/buzz/...` (Civitai has no public Buzz API). Behind the `buzz` feature flag."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hub.server import community_schema as schema
from hub.server.auth import require_role
from hub.server.documents import now_iso
from hub.server.errors import ApiError, bad_request, not_found
from hub.server.openapi import json_ok, responses
from hub.server.params import INT64_MAX
from hub.server.routes.common import SignedIn, hub_of, json_doc
from hub.server.store import NotFound
from hub.server.store.buzz import InsufficientFunds

router = APIRouter(tags=["buzz"])
MAX_AMOUNT = 1_000_000_000
IdempotencyKey = Field(
    min_length=1,
    max_length=200,
    description="a key of the caller's choosing, unique per transfer: repeating it returns the first result",
)


class Tip(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=1, max_length=40, description="the username to tip")
    amount: int = Field(ge=1, le=MAX_AMOUNT, description="Buzz to send")
    idempotencyKey: str = IdempotencyKey
    memo: str = Field("", max_length=500)


class Grant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=1, max_length=40, description="the username to credit")
    amount: int = Field(ge=1, le=MAX_AMOUNT)
    idempotencyKey: str = IdempotencyKey
    memo: str = Field("", max_length=500)


def transfer_error(exc: Exception) -> ApiError:
    """The answer to a refused transfer: 402 insufficient funds, 404 unknown user, 400 else."""
    if isinstance(exc, InsufficientFunds):
        return ApiError(402, str(exc))
    if isinstance(exc, NotFound):
        return not_found(str(exc))
    return bad_request(str(exc))


@router.get(
    "/api/v1/buzz/balance",
    operation_id="getBuzzBalance",
    responses=responses(401, 404, ok=json_ok(schema.BuzzBalance, "the caller's Buzz")),
)
async def get_balance(request: Request, user: SignedIn) -> Response:
    hub = hub_of(request)
    hub.require_flag("buzz", user)
    balance = await run_in_threadpool(hub.store.buzz_balance, user.id)
    return json_doc(request, {"username": user.username, "balance": balance})


@router.get(
    "/api/v1/buzz/transactions",
    operation_id="listBuzzTransactions",
    responses=responses(
        400, 401, 404, ok=json_ok(schema.BuzzHistory, "the caller's transactions, newest first")
    ),
)
async def history(
    request: Request,
    user: SignedIn,
    limit: Annotated[int, Query(ge=1, le=200, description="how many")] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=INT64_MAX, description="page: transactions before this id")
    ] = None,
) -> Response:
    hub = hub_of(request)
    hub.require_flag("buzz", user)
    items = await run_in_threadpool(hub.store.buzz_history, user.id, limit, before)
    return json_doc(request, {"items": items})


@router.post(
    "/api/v1/buzz/tips",
    operation_id="tipUser",
    responses=responses(
        400, 401, 402, 404, ok=json_ok(schema.BuzzTransaction, "the tip (or the first one with this key)")
    ),
)
async def tip(request: Request, user: SignedIn, body: Annotated[Tip, Body()]) -> Response:
    hub = hub_of(request)
    hub.require_flag("buzz", user)
    try:
        done = await run_in_threadpool(
            hub.store.tip, user.id, body.to, body.amount, body.idempotencyKey, body.memo
        )
    except (InsufficientFunds, NotFound, ValueError) as exc:
        raise transfer_error(exc) from None
    return json_doc(request, done)


@router.put(
    "/api/v1/buzz/rewards/daily-login",
    operation_id="claimDailyLogin",
    responses=responses(
        401, 404, ok=json_ok(schema.BuzzTransaction, "today's reward (the same one all day)")
    ),
)
async def daily_login(request: Request, user: SignedIn) -> Response:
    hub = hub_of(request)
    hub.require_flag("buzz", user)
    done = await run_in_threadpool(hub.store.reward, user.id, "daily_login", now_iso()[:10])
    return json_doc(request, done)


@router.post(
    "/api/v1/buzz/grants",
    operation_id="grantBuzz",
    responses=responses(
        400, 401, 403, 404, ok=json_ok(schema.BuzzTransaction, "the grant (or the first one with this key)")
    ),
)
async def grant(request: Request, user: SignedIn, body: Annotated[Grant, Body()]) -> Response:
    require_role(user, "admin")
    hub = hub_of(request)
    hub.require_flag("buzz", user)
    try:
        done = await run_in_threadpool(
            hub.store.grant_buzz, body.to, body.amount, body.idempotencyKey, body.memo
        )
    except (NotFound, ValueError) as exc:
        raise transfer_error(exc) from None
    return json_doc(request, done)
