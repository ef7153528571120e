"""A1111's `GET /sdapi/v1/progress`: what it answers, and a plain-ASGI way in for the polls.

Every client polls progress, often in step (a UI and many scripts poll every 0.5-1 s), so the
answer is made once per change of progress and served as the same bytes until the next change:

    progress = A1111Progress(services)
    progress.state(skip_current_image)     # the A1111 dict (for callers in Python)
    progress.body(skip_current_image)      # that dict as the JSON bytes the route sends

`ProgressFastPath` is an ASGI middleware that answers `GET /sdapi/v1/progress` with
`progress.body(...)` without FastAPI's routing and parameter validation. `create_app` adds it
inside the authentication, CORS and body-limit middlewares, so those still see every poll. A
query it does not read as a plain `skip_current_image` boolean goes on to the FastAPI route,
which answers the same bytes or refuses the value (422) as before: one answer, two ways in.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from studio.http.images import encode_png_base64
from studio.jobs import GENERATE

if TYPE_CHECKING:
    from studio.http.services import HttpServices
    from studio.jobs.worker import ProgressSnapshot

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PROGRESS_PATH = "/sdapi/v1/progress"
# what FastAPI (pydantic) reads as a boolean query value; anything else goes to the route
_BOOLEANS = {
    **dict.fromkeys(("1", "on", "t", "true", "y", "yes"), True),
    **dict.fromkeys(("0", "off", "f", "false", "n", "no"), False),
}


def json_bytes(content: Any) -> bytes:
    """`content` as FastAPI's JSONResponse writes it, byte for byte."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


@dataclass(frozen=True)
class _Made:
    """One answer and what it was made from: the preview compared by identity (each preview is
    a new object), the rest of the snapshot and the queued count by value."""

    preview: bytes | None
    values: tuple[Any, ...]
    body: bytes


class A1111Progress:
    def __init__(self, services: HttpServices) -> None:
        self.services = services
        # the live preview as base64, made once per preview (not per poll): (its PNG, the text)
        self._preview_text: tuple[bytes, str] | None = None
        self._made: dict[bool, _Made] = {}  # the last answer for each skip_current_image

    def preview_base64(self, png: bytes) -> str:
        """`png` as base64, encoded once: every client polling /progress gets the same text
        until the worker sends the next preview."""
        cached = self._preview_text
        if cached is None or cached[0] is not png:
            cached = (png, encode_png_base64(png))
            self._preview_text = cached
        return cached[1]

    def body(self, skip_current_image: bool) -> bytes:
        """The JSON of `state(skip_current_image)`, made again only when the progress changed."""
        snapshot = self.services.jobs.progress()
        queued = self.services.queue.queued_count()
        job, step = snapshot.job, snapshot.step
        values = (
            job.id if job else None,
            (step.batch_index, step.step, step.steps) if step else None,
            snapshot.batches,
            snapshot.progress,
            snapshot.eta,
            snapshot.interrupted,
            snapshot.skipped,
            queued,
        )
        preview = None if skip_current_image else snapshot.preview
        made = self._made.get(skip_current_image)
        if made is None or made.preview is not preview or made.values != values:
            body = json_bytes(self._state(snapshot, queued, skip_current_image))
            made = _Made(preview, values, body)
            self._made[skip_current_image] = made
        return made.body

    def state(self, skip_current_image: bool) -> dict[str, Any]:
        """A1111's progress: the running job's step, ETA, live preview (unless skipped) and the
        number of queued jobs."""
        return self._state(
            self.services.jobs.progress(), self.services.queue.queued_count(), skip_current_image
        )

    def _state(self, snapshot: ProgressSnapshot, queued: int, skip_current_image: bool) -> dict[str, Any]:
        state: dict[str, Any] = {
            "skipped": snapshot.skipped,
            "interrupted": snapshot.interrupted,
            "job": "",
            "job_count": 0,
            "job_timestamp": "0",
            "job_no": 0,
            "sampling_step": 0,
            "sampling_steps": 0,
            "job_id": None,
            "queued_jobs": queued,
        }
        if snapshot.job is None:
            return {
                "progress": 0.0,
                "eta_relative": 0.0,
                "state": state,
                "current_image": None,
                "textinfo": None,
            }
        job, step = snapshot.job, snapshot.step
        payload = job.payload
        mode = "img2img" if payload.get("init_images") else "txt2img"
        state.update(
            job=mode if job.kind == GENERATE else job.kind,
            job_count=snapshot.batches,
            job_timestamp=datetime.datetime.fromtimestamp(job.created_at).strftime("%Y%m%d%H%M%S"),
            job_no=step.batch_index if step else 0,
            sampling_step=step.step if step else 0,
            sampling_steps=step.steps if step else int(payload.get("steps", 0) or 0),
            job_id=job.id,
        )
        preview = (
            None if skip_current_image or snapshot.preview is None else self.preview_base64(snapshot.preview)
        )
        textinfo = f"Step {step.step}/{step.steps}" if step else "Starting"
        eta = snapshot.eta if snapshot.eta is not None else 0.0
        return {
            "progress": round(snapshot.progress, 4),
            "eta_relative": round(max(0.0, eta), 3),
            "state": state,
            "current_image": preview,
            "textinfo": textinfo,
        }


def skip_current_image(query_string: bytes) -> bool | None:
    """The `skip_current_image` of a progress query (False when absent; the last one when
    repeated, as FastAPI reads it), or None when FastAPI might read it otherwise."""
    value: bool | None = False
    try:
        pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    except ValueError:
        return None
    for name, text in pairs:
        if name == "skip_current_image":
            value = _BOOLEANS.get(text.lower())
    return value


class ProgressFastPath:
    """Answers `GET /sdapi/v1/progress` from `progress.body(...)`; every other request, and a
    progress query the route must judge, goes on to `app`."""

    def __init__(self, app: ASGIApp, progress: A1111Progress) -> None:
        self.app = app
        self.progress = progress

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PROGRESS_PATH and scope["method"] == "GET":
            skip = skip_current_image(scope.get("query_string", b""))
            if skip is not None:
                body = self.progress.body(skip)
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-length", str(len(body)).encode()),
                            (b"content-type", b"application/json"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
