"""The check every generation request passes before it is queued, whichever route it came by.

Both the A1111 routes and the native job API call `check_request`, so a bad sampler, schedule
type, model name or unusable model file is a 422 naming the field at submit time, never a
failed job later. Every bad field is named at once (`RequestErrors`). Then `check_cost`, the
`cost_check` policy (`studio.memory.estimate`): a request it refuses is a 422 `CostRefused`
with the estimate, one it warns about is queued and the warnings answered.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from studio.request import RequestError, RequestErrors

if TYPE_CHECKING:
    from studio.engine_view import StudioEngine
    from studio.memory.estimate import CostVerdict
    from studio.request import GenerationRequest


def check_request(
    engine: StudioEngine, request: GenerationRequest, *, skip: Collection[str] = ()
) -> GenerationRequest:
    """Validate a request against the engine's names before it is queued (RequestError naming
    every bad field); returns it with the names normalized as the engine will run it.

    Fields in `skip` were reported already by the caller (under the name its client sent), so
    the engine's complaints about them are dropped."""
    try:
        checked, _entry, _vae = engine.check(request)
    except RequestError as error:
        remaining = [problem for problem in error.problems if problem.field not in skip]
        if remaining == error.problems:
            raise
        if len(remaining) == 1:
            raise remaining[0] from error
        if remaining:
            raise RequestErrors(remaining) from error
        return request
    return checked


def check_cost(engine: StudioEngine, request: GenerationRequest) -> CostVerdict:
    """The cost check's verdict (estimate and warnings); raises CostRefused when it refuses."""
    return engine.check_cost(request)
