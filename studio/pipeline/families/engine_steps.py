"""The engine's steps that depend on a checkpoint's family: checks before a job is queued,
the prompts each family's pipeline takes, and the pipeline call with an SDXL refiner. Free
functions of what they need (the model registry, the sampler registry, the prompt cache), so
`studio/pipeline/engine.py` stays the generate loop."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from studio.request import GenerationRequest, RequestError

if TYPE_CHECKING:
    from studio.pipeline.model_registry import ModelEntry, ModelRegistry
    from studio.pipeline.networks.activation import AppliedNetworks, NetworkPlan
    from studio.pipeline.prompt_cache import PromptEmbeddingCache
    from studio.pipeline.samplers import SamplerRegistry
    from studio.progress import GenerationControl


def check_family(
    request: GenerationRequest, entry: ModelEntry, registry: ModelRegistry, samplers: SamplerRegistry
) -> GenerationRequest:
    """Refuse what the model's family cannot do; name the refiner by its title."""
    from studio.pipeline.families import architecture_of, family_of, identify
    from studio.pipeline.families.checks import check_refiner, check_request

    name = entry.architecture or identify(entry.path, entry.format)
    family, architecture = family_of(name), architecture_of(name)
    if family is None or architecture is None:
        return request  # the loader says what it is and why it does not load
    check_request(request, family, architecture, entry.model_name, samplers)
    if request.refiner_checkpoint is not None:
        refiner = registry.find("checkpoint", request.refiner_checkpoint, "refiner_checkpoint")
        refiner_family = family_of(refiner.architecture or identify(refiner.path, refiner.format))
        if refiner_family is None:
            raise RequestError("refiner_checkpoint", f"{refiner.model_name}: not a model Atelier can load")
        check_refiner(family, refiner_family, refiner.model_name)
        # A1111 writes the refiner as "short_name [hash10]"
        request = dataclasses.replace(request, refiner_checkpoint=f"{refiner.short_name} [{refiner.hash10}]")
    return request


def check_family_prompts(entry: ModelEntry, plan: NetworkPlan, request: GenerationRequest) -> None:
    """What a family's prompts may hold (`checks.check_plain_prompts`)."""
    from studio.pipeline.families import family_of, identify
    from studio.pipeline.families.checks import check_plain_prompts

    family = family_of(entry.architecture or identify(entry.path, entry.format))
    if family is not None:
        check_plain_prompts(
            family,
            entry.model_name,
            plan.prompt,
            plan.negative_prompt,
            request.steps,
            plan.loras,
            plan.embeddings,
        )
        if plan.embeddings and request.refiner_checkpoint is not None:
            raise RequestError(
                "refiner_checkpoint",
                "embeddings are installed on the base model only: the refiner would read their names as "
                "text; use them without a refiner",
            )


def family_conditioning(
    prompts: PromptEmbeddingCache,
    loaded: Any,
    pipe: Any,
    request: GenerationRequest,
    networks: AppliedNetworks,
    clip_skip: int,
) -> tuple[Any, GenerationRequest]:
    """SD 1.x / 2.x: the prompts parsed and encoded (cached); other families: their plain
    text for the pipeline to encode, in the request the batch runs with."""
    from studio.pipeline.families.checks import T5_WEIGHTED_FAMILIES, WEIGHTED_PROMPT_FAMILIES, plain_prompt
    from studio.pipeline.families.runtime import PlainConditioning, prompt_kwargs, uses_prompt_cache

    if uses_prompt_cache(loaded.family):
        conditioning = prompts.conditioning(
            pipe, networks.prompt, networks.negative_prompt, request.steps, clip_skip
        )
        return conditioning, request
    if loaded.family.name in T5_WEIGHTED_FAMILIES:  # Flux: emphasis weights on T5, as Forge does
        return t5_prompts(
            loaded, pipe, request, networks.prompt, networks.negative_prompt, clip_skip
        ), request
    if loaded.family.name in WEIGHTED_PROMPT_FAMILIES:  # SDXL: A1111's prompt language, encoded here
        from studio.pipeline.families.sdxl_conditioning import sdxl_conditioning

        conditioning = sdxl_conditioning(
            pipe, networks.prompt, networks.negative_prompt, request.steps, clip_skip
        )
        encoded = dataclasses.replace(
            request, prompt=networks.prompt, negative_prompt=networks.negative_prompt
        )
        return conditioning, encoded
    plain = dataclasses.replace(
        request,
        prompt=plain_prompt(networks.prompt, request.steps, "prompt"),
        negative_prompt=plain_prompt(networks.negative_prompt, request.steps, "negative_prompt"),
    )
    return PlainConditioning(prompt_kwargs(loaded.family, plain, clip_skip)), plain


def t5_prompts(
    loaded: Any, pipe: Any, request: GenerationRequest, prompt: str, negative: str, clip_skip: int
) -> Any:
    """Flux's and SD 3.5's prompts with their weights (Flux: the negative one only where true
    CFG runs)."""
    from studio.pipeline.families.runtime import prompt_kwargs
    from studio.pipeline.families.t5_conditioning import (
        chroma_conditioning,
        flux_conditioning,
        sd3_conditioning,
    )

    if loaded.family.name == "sd3":
        return sd3_conditioning(pipe, prompt, negative, clip_skip)
    if loaded.family.name == "chroma":
        return chroma_conditioning(pipe, prompt, negative)

    uses_negative = prompt_kwargs(loaded.family, request, 1).get("negative_prompt") is not None
    length = 256 if loaded.architecture.name == "flux-schnell" else 512
    return flux_conditioning(pipe, prompt, negative if uses_negative else None, length)


def call_with_refiner(
    samplers: SamplerRegistry,
    pipe: Any,
    kwargs: dict[str, Any],
    request: GenerationRequest,
    refiner: Any,
    vae: Any,
    control: GenerationControl,
    clip_skip: int,
) -> list[Any]:
    """Run the pipeline; with a refiner, hand it the last steps (A1111's refiner)."""
    from studio.pipeline.families.runtime import call_pipeline, family_kwargs, prompt_kwargs

    refiner_pipe = None
    if refiner is not None:
        refiner_pipe = refiner.pipeline("img2img" if request.mode == "txt2img" else request.mode, vae)
        from studio.pipeline.seeds import bind_step_noise

        refiner_pipe.scheduler = bind_step_noise(
            samplers.make_scheduler(
                request.sampler_name, request.scheduler, refiner.base_scheduler_config, request.flow_shift
            ),
            kwargs["generator"],
        )

    def refiner_kwargs(pipeline: Any) -> dict[str, Any]:
        from studio.pipeline.families.checks import WEIGHTED_PROMPT_FAMILIES

        if refiner.family.name in WEIGHTED_PROMPT_FAMILIES:
            from studio.pipeline.families.sdxl_conditioning import sdxl_conditioning

            conditioning = sdxl_conditioning(
                pipeline, request.prompt, request.negative_prompt, request.steps, clip_skip
            )
            prompts = conditioning.kwargs_at(int(request.steps * request.refiner_switch_at))
        else:
            prompts = prompt_kwargs(refiner.family, request, clip_skip)
        return {**prompts, **family_kwargs(refiner.family, refiner.architecture, pipeline, request)}

    return call_pipeline(
        pipe,
        kwargs,
        refiner_pipe,
        request,
        refiner_kwargs,
        lambda: control.interrupted or control.skip_requested,
    )
