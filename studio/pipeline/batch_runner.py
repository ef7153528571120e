"""One pass of a batch: the images of some seeds, through the mode's diffusers pipeline.

`Engine.generate` decides what runs (batches, prompt runs, interrupts, saving); `BatchRunner`
runs one pass: the sampler, ControlNet variant and conditioning of the request, the step
callback that reports progress, then txt2img (with hires fix), img2img or inpaint (with "only
masked"). It holds no state between passes.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from studio.hooks import GenerationHooks
from studio.pipeline.families.engine_steps import call_with_refiner, family_conditioning
from studio.pipeline.networks.activation import AppliedNetworks
from studio.pipeline.prompt_cache import PromptEmbeddingCache
from studio.pipeline.upscalers.service import Upscalers
from studio.progress import GenerationControl, StepInfo
from studio.prompts.expansion import ImagePrompt
from studio.request import GenerationRequest, RequestError

if TYPE_CHECKING:
    from studio.pipeline.samplers import SamplerRegistry


def prepare_inputs(request: GenerationRequest) -> dict[str, Any]:
    """Decode init images and mask up front so a bad image fails before any work."""
    from studio.pipeline.images import fill_masked, prepare_init_image, prepare_mask

    if request.mode == "txt2img":
        return {}
    images = [
        prepare_init_image(data, request.width, request.height, f"init_images[{i}]")
        for i, data in enumerate(request.init_images)
    ]
    inputs: dict[str, Any] = {"init_images": images}
    if request.mode == "inpaint":
        assert request.mask is not None
        mask = prepare_mask(
            request.mask,
            request.width,
            request.height,
            bool(request.inpainting_mask_invert),
            request.mask_blur,
        )
        inputs["mask"] = mask
        inputs["filled"] = [fill_masked(image, mask, request.inpainting_fill) for image in images]
    return inputs


def same_prompt_runs(prompts: list[ImagePrompt]) -> list[tuple[int, int]]:
    """(start, end) of each run of consecutive images with the same prompts."""
    runs: list[tuple[int, int]] = []
    start = 0
    for index in range(1, len(prompts) + 1):
        if index == len(prompts) or (prompts[index].prompt, prompts[index].negative_prompt) != (
            prompts[start].prompt,
            prompts[start].negative_prompt,
        ):
            runs.append((start, index))
            start = index
    return runs


def with_prompts(request: GenerationRequest, image_prompt: ImagePrompt) -> GenerationRequest:
    """The request as the image was made: its final prompts, no styles left to apply."""
    return dataclasses.replace(
        request, prompt=image_prompt.prompt, negative_prompt=image_prompt.negative_prompt, styles=()
    )


def peak_memory(device_name: str) -> int:
    """The process's peak memory in bytes: allocated CUDA memory on a CUDA device, else the
    peak resident set size (0 where the platform cannot say)."""
    import torch

    if device_name == "cuda":
        return int(torch.cuda.max_memory_allocated())
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)
    except ImportError:
        return 0


@dataclass
class BatchRunner:
    """Runs passes with the engine's samplers, prompt cache, upscalers and hooks."""

    samplers: SamplerRegistry
    prompt_cache: PromptEmbeddingCache
    upscalers: Upscalers
    hooks: GenerationHooks
    default_clip_skip: int
    # hires fix's `hr_checkpoint_name`: (that loaded model, the prompts with the networks
    # applied to it); None: the second pass runs on the first pass's model
    hires_model: tuple[Any, AppliedNetworks] | None = None

    def run(
        self,
        loaded: Any,
        vae: Any,
        request: GenerationRequest,
        inputs: dict[str, Any],
        seeds: list[int],
        subseeds: list[int],
        batch_index: int,
        control: GenerationControl,
        networks: AppliedNetworks,
        offset: int = 0,
        refiner: Any = None,
    ) -> list[Any]:
        """Images of `seeds`, the images `offset`.. of batch `batch_index`."""
        from PIL import Image

        from studio.pipeline.images import composite_inpaint
        from studio.pipeline.seeds import bind_step_noise, make_generators

        mode = request.mode
        count = len(seeds)
        first_image = batch_index * request.batch_size + offset
        if mode != "txt2img":
            originals = [
                inputs["init_images"][(first_image + i) % len(inputs["init_images"])] for i in range(count)
            ]
            if request.denoising_strength == 0:
                return [image.copy() for image in originals]
        pipe = loaded.pipeline(mode, vae)
        generators = make_generators(seeds)
        pipe.scheduler = bind_step_noise(
            self.samplers.make_scheduler(
                request.sampler_name, request.scheduler, loaded.base_scheduler_config, request.flow_shift
            ),
            generators,
        )
        if inputs.get("controlnet"):  # the ControlNet variant of the mode's pipeline, same modules
            from studio.pipeline.controlnet.units import controlnet_pipeline

            pipe = controlnet_pipeline(pipe, mode, inputs["controlnet"])
        clip_skip = request.clip_skip if request.clip_skip != 1 else self.default_clip_skip
        # Both prompts (network tags removed, embeddings as their tokens) parsed in A1111's
        # prompt language and encoded; reused across batches, sweeps and runs while recent.
        # (SD 1.x / 2.x: the other families' pipelines encode their plain text themselves.)
        conditioning, request = family_conditioning(
            self.prompt_cache, loaded, pipe, request, networks, clip_skip
        )
        if inputs.get("controlnet") and conditioning.composable:
            raise RequestError("prompt", "AND (composable prompts) does not work with ControlNet units yet")
        hooks = self.hooks
        from studio.pipeline.hires import denoise_steps

        hires_steps = denoise_steps(request) if request.enable_hr else 0

        def reporter(offset: int, more: int, prompts: Any) -> Any:
            """The step callback; progress counts `offset` steps done before and `more` after;
            `prompts` (the pass's conditioning) switches embeddings for prompt editing."""

            def on_step_end(pipeline: Any, step_index: int, timestep: Any, callback_kwargs: dict) -> dict:
                # Second-order samplers (Heun, DPM2) call back twice per step: count the user's steps.
                order = max(1, int(getattr(pipeline.scheduler, "order", 1) or 1))
                info = StepInfo(
                    image_index=first_image,
                    image_count=request.image_count,
                    batch_index=batch_index,
                    step=offset + -(-(step_index + 1) // order),
                    steps=offset + -(-pipeline.num_timesteps // order) + more,
                    latents=callback_kwargs.get("latents"),
                    family=loaded.family.name,
                    width=request.width,
                    height=request.height,
                )
                control.report_step(info)
                hooks.on_step(info, control)
                if control.interrupted or control.skip_requested:
                    pipeline._interrupt = True
                return prompts.on_step_end(pipeline, step_index, callback_kwargs)  # prompt editing

            return on_step_end

        on_step_end = reporter(0, hires_steps, conditioning)

        kwargs: dict[str, Any] = {
            **conditioning.pipeline_kwargs(),  # repeated per image like a plain diffusers call
            "num_images_per_prompt": count,
            "num_inference_steps": request.steps,
            "guidance_scale": request.cfg_scale,
            "generator": generators,
            "callback_on_step_end": on_step_end,
            **self._family_kwargs(loaded, pipe, request),
        }
        if inputs.get("controlnet"):
            from studio.pipeline.controlnet.units import call_kwargs

            kwargs.update(call_kwargs(mode, inputs["controlnet"]))
        if mode == "txt2img":
            from studio.pipeline.families.runtime import txt2img_latents

            noise = txt2img_latents(loaded.family, pipe, request, generators, subseeds)
            kwargs.update(
                width=request.width, height=request.height, latents=noise.to(pipe._execution_device)
            )
            if request.enable_hr:
                return self._hires_pass(
                    loaded, vae, request, kwargs, seeds, networks, clip_skip, reporter, conditioning
                )
            with conditioning.unet_hooks(pipe):  # AND parts
                return call_with_refiner(
                    self.samplers, pipe, kwargs, request, refiner, vae, control, clip_skip
                )
        if mode == "img2img":
            kwargs.update(image=originals, strength=request.denoising_strength)
            with conditioning.unet_hooks(pipe):
                return call_with_refiner(
                    self.samplers, pipe, kwargs, request, refiner, vae, control, clip_skip
                )
        mask = inputs["mask"]
        filled = [inputs["filled"][(first_image + i) % len(inputs["filled"])] for i in range(count)]
        strength = 1.0 if request.inpainting_fill == 2 else request.denoising_strength
        box = None
        if request.inpaint_full_res:
            from studio.pipeline.images import masked_crop_box

            box = masked_crop_box(mask, request.inpaint_full_res_padding, request.width, request.height)
        work_mask = mask
        if box is not None:
            # "Only masked": inpaint the padded mask region at full resolution, then paste it back.
            size = (request.width, request.height)
            filled = [image.crop(box).resize(size, Image.Resampling.LANCZOS) for image in filled]
            work_mask = mask.crop(box).resize(size, Image.Resampling.LANCZOS)
        kwargs.update(
            image=filled,
            mask_image=work_mask,
            strength=strength,
            width=request.width,
            height=request.height,
        )
        with conditioning.unet_hooks(pipe):
            generated = call_with_refiner(
                self.samplers, pipe, kwargs, request, refiner, vae, control, clip_skip
            )
        if box is not None:
            pasted = []
            for i, image in enumerate(generated):
                canvas = originals[i].copy()
                canvas.paste(
                    image.resize((box[2] - box[0], box[3] - box[1]), Image.Resampling.LANCZOS), box[:2]
                )
                pasted.append(canvas)
            generated = pasted
        return [composite_inpaint(image, originals[i], mask) for i, image in enumerate(generated)]

    def _hires_pass(
        self,
        loaded: Any,
        vae: Any,
        request: GenerationRequest,
        kwargs: dict[str, Any],
        seeds: list[int],
        networks: AppliedNetworks,
        clip_skip: int,
        reporter: Any,
        conditioning: Any,
    ) -> list[Any]:
        """The first pass (latents kept for a latent upscaler), then hires fix's second pass."""
        from studio.pipeline.hires import HiresPasses

        second = None
        if self.hires_model is not None:
            second, networks = self.hires_model
        passes = HiresPasses(self.samplers, self.prompt_cache, self.upscalers, loaded, vae, second)
        return passes.run(request, kwargs, seeds, networks, clip_skip, reporter, conditioning)

    def _family_kwargs(self, loaded: Any, pipe: Any, request: GenerationRequest) -> dict[str, Any]:
        from studio.pipeline.families.runtime import family_kwargs

        return family_kwargs(loaded.family, loaded.architecture, pipe, request)
