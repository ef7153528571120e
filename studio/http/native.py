"""Atelier's own API under /studio/v1: jobs of any kind, their events, and their images.

POST   /jobs                    queue a job -> 202 {id, state, position, ...}
GET    /jobs                    jobs, newest first (?state=&kind=&offset=&limit=)
GET    /jobs/{id}               one job, with its result and image URLs
DELETE /jobs/{id}               cancel it if queued, interrupt it if running
POST   /jobs/{id}/requeue       run an interrupted / failed / cancelled job again
GET    /jobs/{id}/events        Server-Sent Events until the job ends (also a WebSocket)
GET    /events                  every job's events, SSE (also a WebSocket)
GET    /images/{id}             a job's image as PNG
POST   /tokenize                token counts of a prompt and a negative prompt (the counter
                                under the prompt boxes)
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

import sqlitedb
from studio.http.checks import check_cost, check_request
from studio.http.errors import (
    COMMON_RESPONSES,
    CONFLICT,
    NOT_FOUND,
    StrictJsonRoute,
    request_error_response,
)
from studio.jobs import GENERATE, XYZ, AsyncSubscription, Job, JobEvent, JobState
from studio.memory.estimate import CostRefused
from studio.request import GenerationRequest, Problems, RequestError

if TYPE_CHECKING:
    from studio.http.services import HttpServices

KEEPALIVE_SECONDS = 15.0
MAX_PAGE = 500
MAX_OFFSET = sqlitedb.MAX_INTEGER  # (found by the fuzz test: larger ones were a 500)


class JobBody(BaseModel):
    kind: str = Field(GENERATE, description="job kind; 'generate' takes a GenerationRequest as payload")
    payload: dict[str, Any] = Field(default_factory=dict, description="the request of this kind, as JSON")
    priority: int = Field(0, ge=-100, le=100, description="higher runs first; FIFO within a priority")


class TokenizeBody(BaseModel):
    prompt: str = ""
    negative_prompt: str = ""
    steps: int = Field(20, ge=1, le=150, description="prompt editing can change the text per step")
    model: str | None = Field(None, description="checkpoint title, name or hash; default the current one")


def job_json(job: Job, *, include_payload: bool = False) -> dict[str, Any]:
    data = job.to_json(include_payload=include_payload)
    data["url"] = f"/studio/v1/jobs/{job.id}"
    data["events_url"] = f"/studio/v1/jobs/{job.id}/events"
    result = data.get("result")
    if result and isinstance(result.get("images"), list):
        for image in result["images"]:
            if isinstance(image, dict) and "id" in image:
                image["url"] = f"/studio/v1/images/{image['id']}"
    return data


def _sse(event: str, data: dict[str, Any], event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _event_json(event: JobEvent) -> dict[str, Any]:
    return event.to_json()


async def _until_disconnect(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


def build_router(services: HttpServices) -> APIRouter:
    router = APIRouter(
        prefix="/studio/v1", tags=["Atelier jobs"], route_class=StrictJsonRoute, responses=COMMON_RESPONSES
    )
    jobs = services.jobs

    def checked_generation(payload: dict[str, Any]) -> GenerationRequest:
        """The payload as a checked request; RequestError naming every bad field: the ones its
        JSON form gets wrong and, checked on what is left, the ones the engine refuses."""
        problems = Problems()
        try:
            request = GenerationRequest.from_json(payload)
        except RequestError as error:
            problems.add(error)
            bad = {re.split(r"[.\[]", field, maxsplit=1)[0] for field in problems.fields()}
            if "init_images" in bad:
                bad.add("mask")  # a mask alone is refused for want of images: said already
            request = GenerationRequest.from_json({k: v for k, v in payload.items() if k not in bad})
        with problems.check():
            request = check_request(services.engine, request, skip=problems.fields())
        problems.raise_any()
        return request

    def check_and_submit(body: JobBody) -> dict[str, Any]:
        """Check the payload (and a generation's cost), then store the job (RequestError names
        every bad field, CostRefused gives the estimate; nothing is stored then). The job's JSON,
        with the cost check's estimate and warnings for a generation."""
        payload = body.payload
        cost = None
        if body.kind in (GENERATE, XYZ):  # both carry a GenerationRequest
            request = checked_generation(body.payload)
            if body.kind == GENERATE:
                cost = check_cost(services.engine, request)
            payload = request.to_json()
        try:
            job = jobs.submit(body.kind, payload, priority=body.priority)
        except RequestError:
            raise
        except (ValueError, TypeError) as error:  # another kind's decoder refused the payload
            raise RequestError("payload", str(error)) from error
        data = job_json(job)
        if cost is not None:
            data.update(cost=cost.to_json(), warnings=cost.warnings)
        return data

    @router.post("/jobs", status_code=202)
    async def submit(body: JobBody) -> JSONResponse:
        services.runners.get(body.kind)  # unknown kind -> 422 before any decoding
        # decoding, validation, the cost estimate and the database write stay off the event loop
        try:
            data = await run_in_threadpool(check_and_submit, body)
        except CostRefused:
            raise  # its own handler answers, with the estimate
        except RequestError as error:
            # the request's fields live in the body's `payload`: their `loc` says so
            return request_error_response(error, within=("payload",))
        return JSONResponse(data, status_code=202)

    @router.get("/jobs")
    def list_jobs(
        state: Annotated[
            list[JobState] | None, Query(description="only jobs in these states (repeatable)")
        ] = None,
        kind: Annotated[str | None, Query()] = None,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        order: Annotated[str, Query(pattern="^(newest|oldest)$")] = "newest",
    ) -> dict[str, Any]:
        items = services.queue.list(
            states=state, kind=kind, offset=offset, limit=limit, newest_first=order == "newest"
        )
        total = services.queue.count(states=state, kind=kind)
        return {"items": [job_json(job) for job in items], "total": total, "offset": offset, "limit": limit}

    @router.get("/jobs/{job_id}", responses={404: NOT_FOUND})
    async def get_job(
        job_id: str, payload: Annotated[bool, Query(description="include the request payload")] = False
    ) -> JSONResponse:
        # polled by clients: two indexed SQLite reads, answered on the event loop
        return JSONResponse(job_json(jobs.get(job_id), include_payload=payload))

    @router.delete("/jobs/{job_id}", responses={404: NOT_FOUND, 409: CONFLICT})
    def cancel_job(job_id: str) -> dict[str, Any]:
        job = jobs.cancel(job_id)
        data = job_json(job)
        data["cancel_requested"] = True
        return data

    @router.post("/jobs/{job_id}/requeue", status_code=202, responses={404: NOT_FOUND, 409: CONFLICT})
    def requeue_job(job_id: str) -> dict[str, Any]:
        return job_json(jobs.requeue(job_id))

    async def event_stream(
        request: Request, subscription: AsyncSubscription, job_id: str | None
    ) -> AsyncIterator[str]:
        try:
            if job_id is not None:
                job = services.queue.require(job_id)
                yield _sse("state", {"type": "state", **job_json(job)})
                if job.state.final:
                    return
            while True:
                try:
                    event = await subscription.get(timeout=KEEPALIVE_SECONDS)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": keep-alive\n\n"
                    continue
                yield _sse(str(event.type), _event_json(event), event.seq)
                if job_id is not None and event.final:
                    return
        finally:
            subscription.close()

    @router.get("/jobs/{job_id}/events", response_class=StreamingResponse, responses={404: NOT_FOUND})
    async def job_events(job_id: str, request: Request) -> StreamingResponse:
        subscription = services.events.async_subscription(job_id)
        try:
            services.queue.require(job_id)
        except Exception:
            subscription.close()
            raise
        return StreamingResponse(
            event_stream(request, subscription, job_id),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.get("/events", response_class=StreamingResponse)
    async def all_events(request: Request) -> StreamingResponse:
        subscription = services.events.async_subscription()
        return StreamingResponse(
            event_stream(request, subscription, None),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def socket_stream(websocket: WebSocket, job_id: str | None) -> None:
        subscription = services.events.async_subscription(job_id)
        try:
            if job_id is not None:
                job = services.queue.get(job_id)
                if job is None:
                    await websocket.close(code=4404, reason=f"no such job {job_id}")
                    return
            await websocket.accept()
            if job_id is not None:
                job = services.queue.require(job_id)
                await websocket.send_json({"type": "state", **job_json(job)})
                if job.state.final:
                    await websocket.close()
                    return
            # watch the client side too, so a closed socket ends the stream at once
            disconnected = asyncio.ensure_future(_until_disconnect(websocket))
            try:
                while True:
                    next_event = asyncio.ensure_future(subscription.get())
                    done, _ = await asyncio.wait(
                        {next_event, disconnected}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if next_event not in done:
                        next_event.cancel()
                        return
                    event = next_event.result()
                    await websocket.send_json(_event_json(event))
                    if job_id is not None and event.final:
                        await websocket.close()
                        return
            finally:
                disconnected.cancel()
        except WebSocketDisconnect:
            return
        finally:
            subscription.close()

    @router.websocket("/jobs/{job_id}/events")
    async def job_events_socket(websocket: WebSocket, job_id: str) -> None:
        await socket_stream(websocket, job_id)

    @router.websocket("/events")
    async def all_events_socket(websocket: WebSocket) -> None:
        await socket_stream(websocket, None)

    @router.get(
        "/images/{image_id}",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}}, 404: NOT_FOUND},
    )
    def get_image(image_id: str) -> Response:
        stored = services.queue.image(image_id)
        png = stored.read_png() if stored is not None else None
        if png is None:
            raise HTTPException(status_code=404, detail=f"no image {image_id!r}")
        return Response(
            png, media_type="image/png", headers={"Cache-Control": "private, max-age=31536000, immutable"}
        )

    @router.get("/models")
    def models() -> list[dict[str, Any]]:
        """Every checkpoint with its family, native size, the samplers and schedule types it
        runs with, its defaults and the family-only request fields it honours."""
        engine = services.engine
        return [engine.model_info(entry.title) for entry in engine.registry.checkpoints()]

    @router.post("/tokenize")
    def tokenize(body: TokenizeBody) -> dict[str, Any]:
        """Tokens of the longest text each prompt stands for over the steps (extra-network tags
        left out, AND parts each), and the 75-token chunks they fill: A1111's counter."""
        counts = {}
        for name, text in (("prompt", body.prompt), ("negative_prompt", body.negative_prompt)):
            count = services.engine.count_tokens(
                text, body.steps, positive=name == "prompt", model=body.model
            )
            counts[name] = {"tokens": count.tokens, "capacity": count.capacity}
        return counts

    @router.get("/status")
    def status() -> dict[str, Any]:
        snapshot = jobs.progress()
        return {
            "queued": services.queue.queued_count(),
            "running": job_json(snapshot.job) if snapshot.job else None,
            "progress": snapshot.progress,
            "workers": [{"name": worker.name, "alive": worker.alive} for worker in jobs.workers],
            "kinds": services.runners.names(),
            "device": services.engine.device_report(),  # dtype policy, fallback reason
        }

    return router
