"""What the engine calls at each point of a generation; the script system implements it.

The engine (`studio.pipeline.engine.Engine`) takes a `GenerationHooks` and calls it in this
order for every request: `before_process` once, then for each batch `process_batch`, `on_step`
after every denoising step, `postprocess_image` for every image, and `postprocess` once with
the whole result. `NoHooks` is the identity used when no scripts are loaded. The script system
(`studio.scripts`) implements this protocol on top of its pluggy hook specs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PIL.Image import Image

    from studio.progress import GenerationControl, StepInfo
    from studio.request import GenerationRequest, Result


class GenerationHooks(Protocol):
    def before_process(self, request: GenerationRequest) -> GenerationRequest:
        """Return the request to run (the same one, or a changed copy made with replace())."""
        ...

    def process_batch(self, request: GenerationRequest, batch_index: int, seeds: list[int]) -> None: ...

    def on_step(self, info: StepInfo, control: GenerationControl) -> None:
        """May read `info.latents` and call `control.interrupt()`."""
        ...

    def postprocess_image(self, request: GenerationRequest, image: Image, infotext: str) -> tuple[Image, str]:
        """Return the image and infotext to save (changed or not)."""
        ...

    def postprocess(self, result: Result) -> Result: ...


class NoHooks:
    """The identity: used when no script is active."""

    def before_process(self, request: GenerationRequest) -> GenerationRequest:
        return request

    def process_batch(self, request: GenerationRequest, batch_index: int, seeds: list[int]) -> None:
        return None

    def on_step(self, info: StepInfo, control: GenerationControl) -> None:
        return None

    def postprocess_image(self, request: GenerationRequest, image: Image, infotext: str) -> tuple[Image, str]:
        return image, infotext

    def postprocess(self, result: Result) -> Result:
        return result
