"""The check every generation request passes before it is queued, whichever route it came by.

Both the A1111 routes and the native job API call `check_request`, so a bad sampler, schedule
type or model name is a 422 naming the field at submit time, never a failed job later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from studio.engine_view import StudioEngine
    from studio.request import GenerationRequest


def check_request(engine: StudioEngine, request: GenerationRequest) -> GenerationRequest:
    """Validate a request against the engine's names before it is queued (RequestError on a bad
    field); returns it with the names normalized as the engine will run it."""
    checked, _entry, _vae = engine.check(request)
    return checked
