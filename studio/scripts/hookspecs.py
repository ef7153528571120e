"""Every hook a script or extension can implement, in one file (pluggy project "atelier").

Implement a hook with `@hookimpl` on a `Script` method or a module-level function; the
implementation may take any subset of the arguments named here. For the generation hooks,
`args` is the calling script's own parameters, resolved by name with defaults filled
(`{}` for a plain module plugin). Generation hooks run only for the always-on scripts a
request enables (`request.scripts` names them), in load order; an exception in one is logged
and the others go on. Return `None` to leave a value unchanged.

Generation (called by the engine through `ScriptManager`, for each request):
- before_process(request, args) -> GenerationRequest | None
      once, before anything runs; return a changed copy (`dataclasses.replace`).
- process_batch(request, args, batch_index, seeds) -> None
      before each batch (`n_iter` of them) with the batch's seeds.
- on_step(info, control, args) -> None
      after every denoising step; may read `info.latents`, may call `control.interrupt()`.
- postprocess_image(request, args, image, infotext) -> tuple[Image, str] | None
      for every image before it is encoded and saved; return a new (image, infotext).
- postprocess(result, args) -> Result | None
      once with the whole result.

Studio (called once by the app, for every enabled script and extension):
- ui(tab) -> Sequence[Param] | None
      controls to add to a UI tab ("txt2img", "img2img", "settings", ...).
- api(router, services) -> None
      register HTTP routes on a FastAPI `APIRouter` mounted at `/studio/v1/ext/<extension>`.
- app_started(services) -> None
      the studio's services are up (engine, queue, events); start background work here.

Registries (called when the script system is built, and again whenever a script or extension
is registered or removed, each time on fresh registries; built-ins first, then load order):
- register_samplers(registry) -> None
      `registry.add(SamplerSpec(...))`, `registry.add_schedule_type(ScheduleType(...))`.
- register_devices(registry) -> None
      `registry.add(backend)`: an object with `name`, `priority`, `is_available(torch)`,
      `device(torch, index)` and `preferred_dtype(torch)` (`studio.devices.DeviceBackend`).
- register_memory_strategies(registry) -> None
      `registry.add(MemoryStrategy(name, apply, description))`.
- register_upscalers(registry) -> None
      `registry.add(PixelUpscaler(name, upscale, scale))` (`upscale(image, width, height)`),
      `registry.add_latent_mode(name, torch_mode, antialias)`.
The built-in samplers, upscalers, devices and memory strategies are registered through these same hooks
(`studio.scripts.registries.BuiltinRegistrations`). A name already taken is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Sequence

    from PIL.Image import Image

    from studio.devices.registry import DeviceRegistry
    from studio.memory.strategies import MemoryStrategyRegistry
    from studio.pipeline.samplers import SamplerRegistry
    from studio.pipeline.upscalers.registry import UpscalerRegistry
    from studio.progress import GenerationControl, StepInfo
    from studio.request import GenerationRequest, Result
    from studio.scripts.params import Param

PROJECT = "atelier"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# The hooks that `ScriptManager` chains: each implementation sees the previous one's output.
GENERATION_HOOKS = ("before_process", "process_batch", "on_step", "postprocess_image", "postprocess")


def in_load_order(impls: Sequence[pluggy.HookImpl]) -> list[pluggy.HookImpl]:
    """A hook's implementations (`get_hookimpls()`) in the order their plugins were registered,
    `tryfirst` ones first and `trylast` ones last: pluggy itself calls the last registered
    first, Atelier calls scripts (and fills registries) in load order."""
    return sorted(impls, key=lambda impl: 0 if impl.tryfirst else 2 if impl.trylast else 1)


@hookspec
def before_process(request: GenerationRequest, args: dict[str, Any]) -> GenerationRequest | None:
    """Return a changed request (made with `dataclasses.replace`) or None to keep it."""


@hookspec
def process_batch(
    request: GenerationRequest, args: dict[str, Any], batch_index: int, seeds: list[int]
) -> None:
    """A batch is about to be denoised with these seeds."""


@hookspec
def on_step(info: StepInfo, control: GenerationControl, args: dict[str, Any]) -> None:
    """A denoising step finished; read `info.latents`, call `control.interrupt()` to stop."""


@hookspec
def postprocess_image(
    request: GenerationRequest, args: dict[str, Any], image: Image, infotext: str
) -> tuple[Image, str] | None:
    """Return a changed (image, infotext) or None; the image is saved after the last script."""


@hookspec
def postprocess(result: Result, args: dict[str, Any]) -> Result | None:
    """Return a changed result or None."""


@hookspec
def ui(tab: str) -> Sequence[Param] | None:
    """Controls (as typed `Param`s) to add to the named UI tab."""


@hookspec
def api(router: Any, services: Any) -> None:
    """Register routes on `router` (a FastAPI APIRouter under /studio/v1/ext/<extension>)."""


@hookspec
def app_started(services: Any) -> None:
    """The studio's services are built and started."""


@hookspec
def register_samplers(registry: SamplerRegistry) -> None:
    """Add samplers and schedule types to `registry` (a `SamplerRegistry`)."""


@hookspec
def register_devices(registry: DeviceRegistry) -> None:
    """Add device backends to `registry` (a `DeviceRegistry`)."""


@hookspec
def register_memory_strategies(registry: MemoryStrategyRegistry) -> None:
    """Add memory strategies to `registry` (a `MemoryStrategyRegistry`)."""


@hookspec
def register_upscalers(registry: UpscalerRegistry) -> None:
    """Add pixel upscalers and latent upscale modes to `registry` (an `UpscalerRegistry`)."""
