"""Hires fix: txt2img's second pass, as A1111 does it.

The first pass makes the image at the request's size; it is upscaled to `request.hires_size`
(a pixel upscaler on the decoded image, or a latent mode on the latents before decoding), then
an img2img pass with `denoising_strength` adds detail at the large size. The second pass takes
`hr_second_pass_steps` (0: the first pass's steps) and, like img2img, denoises
int(steps * strength) of them; progress counts both passes.
"""

from __future__ import annotations

import dataclasses
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
    return list(
        pipe(
            **prompt_kwargs,
            image=image,
            strength=request.denoising_strength,
            num_inference_steps=requested_steps(request),
            guidance_scale=request.cfg_scale,
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
        from studio.pipeline.seeds import make_generators

        plan = self.plan(request)
        if plan.latent_mode is not None:
            kwargs["output_type"] = "latent"
        first_pipe = self.loaded.pipeline("txt2img", self.vae)
        with conditioning.unet_hooks(first_pipe):
            first = first_pipe(**kwargs).images
        pipe = self.second.pipeline("img2img", self.vae)
        pipe.scheduler = self.samplers.make_scheduler(
            request.hr_sampler_name or request.sampler_name,
            request.hr_scheduler or request.scheduler,
            self.second.base_scheduler_config,
        )
        prompt = request.hr_prompt or networks.prompt
        negative = request.hr_negative_prompt or networks.negative_prompt
        prompts = self.prompt_cache.conditioning(pipe, prompt, negative, requested_steps(request), clip_skip)
        callback = reporter(request.steps, 0, prompts)
        with prompts.unet_hooks(pipe):
            return second_pass(
                pipe, first, plan, request, prompts.pipeline_kwargs(), make_generators(seeds), callback
            )
