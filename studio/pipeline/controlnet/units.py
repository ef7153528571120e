"""Run ControlNet units: control images, the ControlNet pipeline of a mode, the call's kwargs,
and the control modes as sd-webui-controlnet defines them.

Control modes (the extension's `soft_injection` and `cfg_injection`):
- Balanced: the ControlNet residuals are added as they are.
- My prompt is more important: residual i of n (the last being the middle block) is scaled by
  0.825 ** (n - 1 - i), so the deep layers keep control and the shallow ones lose most of it.
- ControlNet is more important: the same per-layer scaling, and the residuals are added to the
  conditional half of the classifier-free-guidance batch only (zero on the unconditional half).
Both are applied by forward hooks on each ControlNet model, for the length of one call.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.controlnet import preprocessors
from studio.controlnet.models import ANNOTATORS, FOLDER, ControlNetFile
from studio.controlnet.units import ControlNetUnit
from studio.request import RequestError

SOFT_INJECTION_BASE = 0.825


@dataclass
class PreparedUnit:
    unit: ControlNetUnit
    model: ControlNetFile
    controlnet: Any
    image: Any  # PIL control image at the generation size


def control_image(
    unit: ControlNetUnit, width: int, height: int, models_path: Path, index: int, allow_pickle: bool = False
) -> Any:
    """The unit's control map at width x height (preprocessed, then fitted by its resize mode)."""
    from PIL import Image, UnidentifiedImageError

    assert unit.image is not None
    try:
        source = Image.open(io.BytesIO(unit.image)).convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        raise RequestError(
            f"controlnet.args[{index}].input_image", f"not a readable image ({error})"
        ) from error
    resolution = unit.processor_res
    if unit.pixel_perfect or resolution <= 0:
        resolution = preprocessors.pixel_perfect_resolution(source, width, height, unit.resize_mode)
    detected = preprocessors.run(
        unit.module,
        source,
        resolution,
        unit.threshold_a,
        unit.threshold_b,
        models_path / FOLDER / ANNOTATORS,
        f"controlnet.args[{index}].module",
        allow_pickle=allow_pickle,
    )
    return preprocessors.fit_to_size(detected, width, height, unit.resize_mode)


def controlnet_pipeline(pipe: Any, mode: str, prepared: Sequence[PreparedUnit]) -> Any:
    """The ControlNet variant of `pipe` for `mode`, sharing its modules."""
    from diffusers import (
        StableDiffusionControlNetImg2ImgPipeline,
        StableDiffusionControlNetInpaintPipeline,
        StableDiffusionControlNetPipeline,
    )
    from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel

    classes = {
        "txt2img": StableDiffusionControlNetPipeline,
        "img2img": StableDiffusionControlNetImg2ImgPipeline,
        "inpaint": StableDiffusionControlNetInpaintPipeline,
    }
    models = [p.controlnet for p in prepared]
    controlnet = models[0] if len(models) == 1 else MultiControlNetModel(models)
    cls = classes[mode]
    wanted = cls._get_signature_keys(cls)[0]
    components = {k: v for k, v in pipe.components.items() if k in wanted}
    variant = cls(**{**components, "controlnet": controlnet, "requires_safety_checker": False})
    variant.set_progress_bar_config(disable=True)
    return variant


def call_kwargs(mode: str, prepared: Sequence[PreparedUnit]) -> dict[str, Any]:
    """The ControlNet arguments of the pipeline call (single values for one unit, lists for more)."""
    images = [p.image for p in prepared]
    single = len(prepared) == 1

    def one_or_list(values: list[Any]) -> Any:
        return values[0] if single else values

    # a unit whose window is empty (start == end) never acts, as in the extension; diffusers
    # refuses such a window, so it runs over the whole range at weight 0 (adds exact zeros)
    active = [p.unit.guidance_start < p.unit.guidance_end for p in prepared]
    kwargs: dict[str, Any] = {
        "controlnet_conditioning_scale": one_or_list(
            [float(p.unit.weight) if on else 0.0 for p, on in zip(prepared, active, strict=True)]
        ),
        "control_guidance_start": one_or_list(
            [float(p.unit.guidance_start) if on else 0.0 for p, on in zip(prepared, active, strict=True)]
        ),
        "control_guidance_end": one_or_list(
            [float(p.unit.guidance_end) if on else 1.0 for p, on in zip(prepared, active, strict=True)]
        ),
    }
    kwargs["image" if mode == "txt2img" else "control_image"] = one_or_list(images)
    return kwargs


def layer_scales(count: int) -> list[float]:
    """Soft injection: residual i of `count` scaled by 0.825 ** (count - 1 - i) (13 for SD 1.x)."""
    return [SOFT_INJECTION_BASE ** float(count - 1 - i) for i in range(count)]


@contextlib.contextmanager
def control_modes(prepared: Sequence[PreparedUnit], classifier_free: bool) -> Iterator[None]:
    """Apply each unit's control mode to its ControlNet's residuals during one pipeline call."""
    handles = []

    def make_hook(cfg_injection: bool) -> Any:
        def hook(module: Any, args: Any, output: Any) -> Any:
            down, mid = output[0], output[1]
            residuals = [*down, mid]
            scales = layer_scales(len(residuals))
            residuals = [r * s for r, s in zip(residuals, scales, strict=True)]
            if cfg_injection and classifier_free:
                half = residuals[0].shape[0] // 2
                residuals = [r.clone() for r in residuals]
                for r in residuals:
                    r[:half] = 0
            return (residuals[:-1], residuals[-1])

        return hook

    try:
        for p in prepared:
            if p.unit.control_mode == "Balanced":
                continue
            cfg_injection = p.unit.control_mode == "ControlNet is more important"
            handles.append(p.controlnet.register_forward_hook(make_hook(cfg_injection)))
        yield
    finally:
        for handle in handles:
            handle.remove()
