"""The check every generation request passes before it is queued, whichever route it came by.

Both the A1111 routes and the native job API call `check_request`, so a bad sampler, schedule
type or model name is a 422 naming the field at submit time, never a failed job later; then
`check_cost`, the `cost_check` policy (`studio.memory.estimate`): a request it refuses is a 422
`CostRefused` with the estimate, one it warns about is queued and the warnings answered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from studio.engine_view import StudioEngine
    from studio.memory.estimate import CostVerdict
    from studio.request import GenerationRequest


def check_request(engine: StudioEngine, request: GenerationRequest) -> GenerationRequest:
    """Validate a request against the engine's names before it is queued (RequestError on a bad
    field); returns it with the names normalized as the engine will run it."""
    checked, _entry, _vae = engine.check(request)
    return checked


def check_cost(engine: StudioEngine, request: GenerationRequest) -> CostVerdict:
    """The cost check's verdict (estimate and warnings); raises CostRefused when it refuses."""
    return engine.check_cost(request)
