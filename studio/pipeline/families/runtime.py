"""Running each family's pipelines: prompt and family arguments, the first noise, the refiner.

The engine builds the arguments every family shares (steps, CFG, generators, the step
callback, images and masks); this adds what differs:
- prompts: SD 1.x / 2.x take cached embeddings (the engine's `PromptEmbeddingCache`); the
  others take the text, each family's pipeline encoding it with its own encoders;
- guidance: A1111's CFG scale is the same formula everywhere (negative + scale x (positive -
  negative)); Flux runs it as `true_cfg_scale` (with Flux.1 dev's distilled guidance beside it)
  and Z-Image's `guidance_scale` counts from 0, so it gets CFG - 1;
- SDXL size and crop conditioning, SD 3.5 skip-layer guidance;
- noise: per-image seeded noise (A1111's) in each family's latent shape (Flux packs it);
- the SDXL refiner: the base model denoises up to `refiner_switch_at` and hands its latents
  to the refiner for the rest (A1111's `refiner_checkpoint`); progress counts the two calls'
  steps as one run.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from studio.pipeline.families.spec import Architecture, Family
from studio.request import GenerationRequest

FLUX_DEV_GUIDANCE = 3.5
FLUX_FILL_GUIDANCE = 30.0  # Black Forest Labs' default for Flux.1 Fill
CHROMA_T5_LENGTH = 512  # ChromaPipeline's max_sequence_length
# SD 3.5's skip-layer guidance: the layers Stability AI names for SD 3.5 medium
SLG_LAYERS = (7, 8, 9)
# what the refiner takes over from the base model's call
REFINER_SHARED = (
    "num_inference_steps",
    "guidance_scale",
    "generator",
    "callback_on_step_end",
    "mask_image",
    "width",
    "height",
)


class PlainConditioning:
    """The prompts of a family whose pipeline encodes them itself: what the engine asks of a
    `PromptConditioning`, with nothing to schedule or combine."""

    composable = False  # AND is SD 1.x / 2.x conditioning only

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self._kwargs = kwargs

    def pipeline_kwargs(self) -> dict[str, Any]:
        return dict(self._kwargs)

    def on_step_end(self, pipeline: Any, step_index: int, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        return callback_kwargs

    def unet_hooks(self, pipe: Any) -> AbstractContextManager[Any]:
        return nullcontext()


def uses_prompt_cache(family: Family) -> bool:
    """SD 1.x / 2.x pipelines get ready-made embeddings from the engine's cache."""
    return family.name in ("sd15", "sd2")


def prompt_kwargs(family: Family, request: GenerationRequest, clip_skip: int) -> dict[str, Any]:
    """The prompt arguments of a family whose pipeline encodes the text itself."""
    kwargs: dict[str, Any] = {"prompt": request.prompt, "negative_prompt": request.negative_prompt}
    if family.clip_skip:
        # A1111's clip skip 1 is the family's own layer; diffusers counts the layers skipped past it
        kwargs["clip_skip"] = clip_skip - 1 if clip_skip > 1 else None
    if family.name == "flux" and request.cfg_scale <= 1:
        kwargs["negative_prompt"] = None  # no true CFG: the negative prompt is not encoded
    if family.name == "flux-fill":
        del kwargs["negative_prompt"]  # no true CFG at all (refused when given: checks)
    return kwargs


def family_kwargs(
    family: Family, architecture: Architecture, pipe: Any, request: GenerationRequest
) -> dict[str, Any]:
    """The arguments only this family takes (the engine has set guidance_scale to cfg_scale)."""
    kwargs: dict[str, Any] = {}
    if {"width", "height"} <= set(inspect.signature(pipe.__call__).parameters):
        # Flux's image-to-image otherwise works at its default size, not the image's
        kwargs.update(width=request.width, height=request.height)
    if family.name in ("sdxl", "sdxl-refiner"):
        size = (request.height, request.width)
        kwargs["original_size"] = (
            request.original_height or request.height,
            request.original_width or request.width,
        )
        kwargs["crops_coords_top_left"] = (request.crop_top, request.crop_left)
        kwargs["target_size"] = size
    elif family.name == "sd3" and request.skip_layer_guidance_scale:
        layers = pipe.transformer.config.num_layers
        kwargs["skip_guidance_layers"] = [i for i in SLG_LAYERS if i < layers] or [layers // 3]
        kwargs["skip_layer_guidance_scale"] = request.skip_layer_guidance_scale
    elif family.name == "flux":
        kwargs["true_cfg_scale"] = request.cfg_scale
        guidance = request.distilled_cfg_scale
        kwargs["guidance_scale"] = FLUX_DEV_GUIDANCE if guidance is None else guidance
        kwargs["max_sequence_length"] = 256 if architecture.name == "flux-schnell" else 512
    elif family.name == "flux-fill":
        guidance = request.distilled_cfg_scale
        kwargs["guidance_scale"] = FLUX_FILL_GUIDANCE if guidance is None else guidance
        kwargs["max_sequence_length"] = 512
    elif family.name == "z-image":
        kwargs["guidance_scale"] = max(0.0, request.cfg_scale - 1.0)
    elif family.name == "chroma":
        kwargs["max_sequence_length"] = CHROMA_T5_LENGTH
        if "guidance_embeds" not in pipe.transformer.config:
            # diffusers 0.42's ChromaInpaintPipeline reads `guidance_embeds`, which Chroma's
            # transformer config lacks (it has no guidance embedding): say so, as False
            pipe.transformer.register_to_config(guidance_embeds=False)
    return kwargs


def txt2img_latents(
    family: Family, pipe: Any, request: GenerationRequest, generators: Sequence[Any], subseeds: Sequence[int]
) -> Any:
    """The first noise of a text-to-image batch, one seeded tensor per image, in the shape the
    family's pipeline takes as `latents`."""
    import torch

    from studio.pipeline.seeds import make_noise

    factor = pipe.vae_scale_factor
    count = len(generators)
    if family.denoiser.name == "unet":
        channels, dtype = pipe.unet.config.in_channels, pipe.unet.dtype
        shape = (channels, request.height // factor, request.width // factor)
        return make_noise(shape, generators, subseeds, request.subseed_strength, dtype=dtype)
    config = pipe.transformer.config
    if family.name == "sd3":
        shape = (config.in_channels, request.height // factor, request.width // factor)
        return make_noise(shape, generators, subseeds, request.subseed_strength, dtype=pipe.transformer.dtype)
    # Flux and Z-Image work on 2x2 patches: their latents are a multiple of 2 each way
    height, width = 2 * (request.height // (factor * 2)), 2 * (request.width // (factor * 2))
    if family.name in ("flux", "chroma"):  # packed 2x2 patches
        channels = config.in_channels // 4
        noise = make_noise((channels, height, width), generators, subseeds, request.subseed_strength)
        return pipe._pack_latents(noise.to(pipe.transformer.dtype), count, channels, height, width)
    noise = make_noise((config.in_channels, height, width), generators, subseeds, request.subseed_strength)
    return noise.to(torch.float32)


def call_pipeline(
    pipe: Any,
    kwargs: dict[str, Any],
    refiner: Any | None,
    request: GenerationRequest,
    refiner_kwargs: Callable[[Any], dict[str, Any]],
    interrupted: Callable[[], bool],
) -> list[Any]:
    """Run `pipe`; with a `refiner` pipeline, run `pipe` up to `refiner_switch_at` of the
    steps and the refiner from there on its latents. `refiner_kwargs(refiner)` gives the
    refiner's own arguments (its prompts, size conditioning)."""
    if refiner is None:
        return list(pipe(**kwargs).images)
    switch = request.refiner_switch_at
    base_callback, refiner_callback = continuous_count(kwargs.get("callback_on_step_end"))
    kwargs = {**kwargs, "callback_on_step_end": base_callback}
    latents = pipe(**{**kwargs, "denoising_end": switch, "output_type": "latent"}).images
    if interrupted():
        latents = latents / pipe.vae.config.scaling_factor
        return list(pipe.image_processor.postprocess(pipe.vae.decode(latents.to(pipe.vae.dtype)).sample))
    accepted = set(inspect.signature(refiner.__call__).parameters)
    shared = {key: kwargs[key] for key in REFINER_SHARED if key in kwargs and key in accepted}
    # the batch's latents are per image already: one prompt each
    count = latents.shape[0]
    extra = refiner_kwargs(refiner)
    if extra.get("prompt_embeds") is not None:  # encoded by the studio: one row per image
        for name, value in list(extra.items()):
            if name.endswith("prompt_embeds"):
                extra[name] = value.repeat(count, *[1] * (value.dim() - 1))
    else:
        extra["prompt"] = [extra["prompt"]] * count
        extra["negative_prompt"] = [extra.get("negative_prompt") or ""] * count
    if "callback_on_step_end" in shared:
        shared["callback_on_step_end"] = refiner_callback
    return list(refiner(**shared, **extra, image=latents, denoising_start=switch).images)


class _CountedPipeline:
    """A pipeline as a step callback sees it, with the step count of base + refiner: reads
    and writes (`_interrupt`) go to the pipeline, `num_timesteps` is the whole run's."""

    def __init__(self, pipeline: Any, total: int) -> None:
        object.__setattr__(self, "_pipeline", pipeline)
        object.__setattr__(self, "num_timesteps", total)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipeline, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._pipeline, name, value)


def continuous_count(callback: Any) -> tuple[Any, Any]:
    """Step callbacks for the base model's and the refiner's calls that count their steps as
    one run (A1111 shows one progress bar): the refiner's first step follows the base's last,
    and both report the whole run's length. The whole run is what the base's scheduler was set
    for (its timesteps from where img2img's strength starts); `denoising_end` only cuts the
    base's loop short."""
    if callback is None:
        return None, None
    state = {"done": 0, "total": 0}

    def base(pipeline: Any, step_index: int, timestep: Any, callback_kwargs: dict[str, Any]) -> Any:
        if not state["total"]:
            scheduler = pipeline.scheduler
            begin = getattr(scheduler, "begin_index", None) or 0
            state["total"] = max(len(scheduler.timesteps) - int(begin), pipeline.num_timesteps)
        state["done"] = step_index + 1
        return callback(_CountedPipeline(pipeline, state["total"]), step_index, timestep, callback_kwargs)

    def refiner(pipeline: Any, step_index: int, timestep: Any, callback_kwargs: dict[str, Any]) -> Any:
        total = max(state["total"], state["done"] + pipeline.num_timesteps)
        counted = _CountedPipeline(pipeline, total)
        return callback(counted, state["done"] + step_index, timestep, callback_kwargs)

    return base, refiner
