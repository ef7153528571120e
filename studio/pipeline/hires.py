"""Hires fix: txt2img's second pass, as A1111 does it.

The first pass makes the image at the request's size; it is upscaled to `request.hires_size`
(a pixel upscaler on the decoded image, or a latent mode on the latents before decoding), then
an img2img pass with `denoising_strength` adds detail at the large size. The second pass takes
`hr_second_pass_steps` (0: the first pass's steps) and, like img2img, denoises
int(steps * strength) of them; progress counts both passes.

Every family with an img2img pipeline takes it (SDXL, SD 3.5, Flux.1, Z-Image): the second pass
encodes its prompts the family's way and gets the family's own arguments at the hires size
(SDXL's size conditioning, Flux's guidance). Latent upscalers are for the UNet families; the
flow families' latents are packed or shifted, so they take a pixel upscaler
(`families.checks.check_hires_family`).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from studio.request import GenerationRequest, Problems, RequestError


@dataclass(frozen=True)
class HiresPlan:
    """What the second pass does: the target size, the upscaler (latent mode or pixel function)."""

    width: int
    height: int
    latent_mode: tuple[str, bool] | None
    pixel_upscale: Callable[[Any, int, int], Any] | None


def requested_steps(request: GenerationRequest) -> int:
    return request.hr_second_pass_steps or request.steps


def denoise_steps(request: GenerationRequest) -> int:
    """The steps the second pass really runs (img2img runs int(steps * strength))."""
    steps = requested_steps(request)
    return min(int(steps * request.denoising_strength), steps)


def resolve_hires(
    request: GenerationRequest,
    samplers: Any,
    upscaler_names: list[str],
    checkpoint_check: Callable[[str], bool],
) -> GenerationRequest:
    """The request with A1111's "Use same ..." values as None and the hires sampler's name
    normalized (`samplers`: the SamplerRegistry), its hires names checked. `checkpoint_check`
    (`hires_checkpoint.hires_checkpoint_check`) says whether `hr_checkpoint_name` is the first
    pass's checkpoint (then it becomes None) or raises for an unusable one."""
    same = (None, "", "Use same sampler", "Use same scheduler", "Use same checkpoint")
    values = {
        name: None if getattr(request, name) in same else getattr(request, name)
        for name in ("hr_sampler_name", "hr_scheduler", "hr_checkpoint_name")
    }
    if values["hr_sampler_name"]:
        values["hr_sampler_name"], scheduler = samplers.normalize(
            values["hr_sampler_name"], values["hr_scheduler"] or "Automatic"
        )
        values["hr_scheduler"] = values["hr_scheduler"] and scheduler
    problems = Problems()
    if values["hr_checkpoint_name"]:
        with problems.check():
            if checkpoint_check(values["hr_checkpoint_name"]):
                values["hr_checkpoint_name"] = None
    request = dataclasses.replace(request, **values)
    with problems.check():
        check_hires(request, upscaler_names, samplers.sampler_names(), samplers.schedule_type_names())
    problems.raise_any()
    return request


def check_hires(
    request: GenerationRequest,
    upscaler_names: list[str],
    sampler_names: list[str],
    schedule_types: list[str],
) -> None:
    """Name checks of the hires fields (RequestError naming the field)."""
    if request.hr_upscaler not in upscaler_names:
        raise RequestError(
            "hr_upscaler",
            f"unknown upscaler {request.hr_upscaler!r}; choose one of: {', '.join(upscaler_names)}",
        )
    if request.hr_sampler_name and request.hr_sampler_name not in sampler_names:
        raise RequestError(
            "hr_sampler_name",
            f"unknown sampler {request.hr_sampler_name!r}; choose one of: {', '.join(sampler_names)}",
        )
    if request.hr_scheduler and request.hr_scheduler not in schedule_types:
        raise RequestError(
            "hr_scheduler",
            f"unknown schedule type {request.hr_scheduler!r}; choose one of: {', '.join(schedule_types)}",
        )


def second_pass(
    pipe: Any,
    first: Any,
    plan: HiresPlan,
    request: GenerationRequest,
    prompt_kwargs: dict[str, Any],
    generators: list[Any],
    callback: Callable[..., dict],
) -> list[Any]:
    """The hires images from the first pass's output (PIL images, or latents for a latent mode).
    `pipe` is the img2img pipeline with the second pass's scheduler set."""
    import torch

    from studio.pipeline.upscalers.registry import upscale_latents

    factor = pipe.vae_scale_factor
    if plan.latent_mode is not None:
        mode, antialias = plan.latent_mode
        image = upscale_latents(first, mode, antialias, plan.height // factor, plan.width // factor)
    else:
        assert plan.pixel_upscale is not None
        image = [plan.pixel_upscale(item, plan.width, plan.height) for item in first]
    if denoise_steps(request) == 0:
        if plan.latent_mode is None:
            return list(image)
        with torch.no_grad():
            decoded = pipe.vae.decode(image / pipe.vae.config.scaling_factor).sample
        return pipe.image_processor.postprocess(decoded, output_type="pil")
    count = len(generators)
    arguments = {"guidance_scale": request.cfg_scale, **prompt_kwargs}
    return list(
        pipe(
            **arguments,
            image=image,
            strength=request.denoising_strength,
            num_inference_steps=requested_steps(request),
            num_images_per_prompt=count,
            generator=generators,
            callback_on_step_end=callback,
        ).images
    )


class HiresPasses:
    """Both passes of one hires batch, on the engine's samplers, prompt cache and upscalers."""

    def __init__(
        self, samplers: Any, prompt_cache: Any, upscalers: Any, loaded: Any, vae: Any, second: Any = None
    ) -> None:
        """`second`: the loaded `hr_checkpoint_name` model (None: the second pass runs on `loaded`)."""
        self.samplers = samplers
        self.prompt_cache = prompt_cache
        self.upscalers = upscalers
        self.loaded = loaded
        self.vae = vae
        self.second = second or loaded

    def plan(self, request: GenerationRequest) -> HiresPlan:
        width, height = request.hires_size
        registry = self.upscalers.registry
        if registry.is_latent(request.hr_upscaler):
            return HiresPlan(width, height, registry.latent_mode(request.hr_upscaler), None)
        return HiresPlan(
            width, height, None, self.upscalers.pixel_function(request.hr_upscaler, "hr_upscaler")
        )

    def run(
        self,
        request: GenerationRequest,
        kwargs: dict[str, Any],
        seeds: list[int],
        networks: Any,
        clip_skip: int,
        reporter: Callable[[int, int, Any], Callable[..., dict]],
        conditioning: Any,
    ) -> list[Any]:
        """`kwargs`: the first pass's txt2img arguments; `reporter(offset, more, prompts)` makes
        a step callback; `conditioning`: the first pass's prompts; `networks`: the prompts
        with the networks applied to the second pass's model."""
        from studio.pipeline.seeds import bind_step_noise, make_generators

        plan = self.plan(request)
        if plan.latent_mode is not None:
            kwargs["output_type"] = "latent"
        first_pipe = self.loaded.pipeline("txt2img", self.vae)
        with conditioning.unet_hooks(first_pipe):
            first = first_pipe(**kwargs).images
        pipe = self.second.pipeline("img2img", self.vae)
        generators = make_generators(seeds)
        pipe.scheduler = bind_step_noise(
            self.samplers.make_scheduler(
                request.hr_sampler_name or request.sampler_name,
                request.hr_scheduler or request.scheduler,
                self.second.base_scheduler_config,
                request.flow_shift,
            ),
            generators,
        )
        prompt = request.hr_prompt or networks.prompt
        negative = request.hr_negative_prompt or networks.negative_prompt
        prompts = self._conditioning(pipe, request, prompt, negative, clip_skip)
        callback = reporter(request.steps, 0, prompts)
        with prompts.unet_hooks(pipe):
            return second_pass(
                pipe,
                first,
                plan,
                request,
                self._second_kwargs(pipe, request, prompts),
                generators,
                callback,
            )

    def _conditioning(
        self, pipe: Any, request: GenerationRequest, prompt: str, negative: str, clip_skip: int
    ) -> Any:
        """The second pass's prompts, encoded the way the model's family takes them."""
        from studio.pipeline.families.checks import (
            T5_WEIGHTED_FAMILIES,
            WEIGHTED_PROMPT_FAMILIES,
            plain_prompt,
        )
        from studio.pipeline.families.runtime import PlainConditioning, prompt_kwargs, uses_prompt_cache

        family = self.second.family
        steps = requested_steps(request)
        if uses_prompt_cache(family):
            return self.prompt_cache.conditioning(pipe, prompt, negative, steps, clip_skip)
        if family.name in T5_WEIGHTED_FAMILIES:
            from studio.pipeline.families.engine_steps import t5_prompts

            return t5_prompts(self.second, pipe, request, prompt, negative, clip_skip)
        if family.name in WEIGHTED_PROMPT_FAMILIES:
            from studio.pipeline.families.sdxl_conditioning import sdxl_conditioning

            return sdxl_conditioning(pipe, prompt, negative, steps, clip_skip)
        plain = dataclasses.replace(
            request,
            prompt=plain_prompt(prompt, steps, "hr_prompt"),
            negative_prompt=plain_prompt(negative, steps, "hr_negative_prompt"),
        )
        return PlainConditioning(prompt_kwargs(family, plain, clip_skip))

    def _second_kwargs(self, pipe: Any, request: GenerationRequest, prompts: Any) -> dict[str, Any]:
        """The prompts and the family's own arguments (SDXL's size conditioning, Flux's
        guidance) at the hires size."""
        from studio.pipeline.families.runtime import family_kwargs

        width, height = request.hires_size
        large = dataclasses.replace(request, width=width, height=height)
        kwargs = family_kwargs(self.second.family, self.second.architecture, pipe, large)
        if self.second.family.name in ("sdxl", "sdxl-refiner") and not (
            request.original_width or request.original_height
        ):
            kwargs["original_size"] = (height, width)  # A1111 conditions the second pass on its own size
        accepted = inspect.signature(pipe.__call__).parameters  # SD 3.5's skip-layer guidance is txt2img's
        kwargs = {name: value for name, value in kwargs.items() if name in accepted}
        # Flux's and Z-Image's guidance_scale (in kwargs) wins over second_pass's cfg_scale
        return {**prompts.pipeline_kwargs(), **kwargs}
