"""Refuse, with the field named, what a model's family cannot do. No torch.

A request is checked against the family of the model it will run on: the mode (an SDXL
refiner has no text-to-image), the family-only fields (a Flux guidance value sent to an SDXL
model is an error, not ignored), clip skip, the size multiple, the sampler and schedule type.
"""

from __future__ import annotations

from collections.abc import Sequence

from studio.pipeline.families import sampler_context
from studio.pipeline.families.spec import FAMILIES, FAMILY_FIELD_DEFAULTS, Architecture, Family
from studio.pipeline.samplers import SamplerRegistry
from studio.prompts.attention import PromptSyntaxError, parse_attention
from studio.prompts.parse import parse_prompt
from studio.request import GenerationRequest, RequestError


def _families_with(field: str) -> str:
    return ", ".join(family.label for family in FAMILIES.values() if field in family.fields)


def check_request(
    request: GenerationRequest,
    family: Family,
    architecture: Architecture,
    model_name: str,
    samplers: SamplerRegistry,
) -> None:
    """Raise RequestError for the first thing `request` asks that `family` cannot do."""
    what = f"{model_name} is {architecture.label}"
    if request.mode not in family.pipelines:
        hint = (
            "; give it an init image, or name it as refiner_checkpoint of an SDXL model"
            if family.name == "sdxl-refiner"
            else ""
        )
        raise RequestError(
            "init_images",
            f"{what}: it has no {request.mode} mode (it runs {', '.join(family.pipelines)}){hint}",
        )
    for field, default in FAMILY_FIELD_DEFAULTS.items():
        if getattr(request, field) != default and field not in family.fields:
            raise RequestError(field, f"applies to {_families_with(field)} models only; {what}")
    if request.distilled_cfg_scale is not None and architecture.name == "flux-schnell":
        raise RequestError(
            "distilled_cfg_scale", f"{what}, which has no guidance input (only Flux.1 dev has)"
        )
    if family.name == "flux-fill":  # distilled guidance only: no CFG, so no negative prompt
        if request.cfg_scale != 1.0:
            raise RequestError(
                "cfg_scale",
                f"{what}, which has no CFG: leave it at 1 and set distilled_cfg_scale (default 30)",
            )
        if request.negative_prompt.strip():
            raise RequestError("negative_prompt", f"{what}, which has no CFG: it takes no negative prompt")
    if request.clip_skip > 1 and not family.clip_skip:
        raise RequestError("clip_skip", f"{what}, whose text encoder is not CLIP: clip skip does not apply")
    if request.enable_hr:
        check_hires_family(request, family, what)
    if family.name not in ("sd15", "sd2") and request.controlnet_units:
        raise RequestError("controlnet_units", f"ControlNet runs with SD 1.x / 2.x models for now; {what}")
    if request.skip_layer_guidance_scale and request.mode != "txt2img":
        raise RequestError("skip_layer_guidance_scale", "skip-layer guidance runs in text-to-image only")
    for name in ("width", "height"):
        value = getattr(request, name)
        if value % family.size_multiple:
            raise RequestError(
                name, f"{value} is not a multiple of {family.size_multiple}, which {family.label} needs"
            )
    valid = samplers.sampler_names(sampler_context(family))
    if request.sampler_name not in valid:
        raise RequestError(
            "sampler_name",
            f"sampler {request.sampler_name!r} does not run with {what}; choose one of: {', '.join(valid)}",
        )
    schedules = samplers.schedule_types_for(request.sampler_name, family.flow)
    if request.scheduler not in schedules:
        raise RequestError(
            "scheduler",
            f"schedule type {request.scheduler!r} does not apply to sampler {request.sampler_name!r} with "
            f"{family.label}; choose one of: {', '.join(schedules)}",
        )


def check_hires_family(request: GenerationRequest, family: Family, what: str) -> None:
    """Hires fix runs on every family (each has text-to-image and image-to-image; the refiner,
    which has no text-to-image, is refused by the mode check); the latent upscalers need a
    latent that is an image-shaped grid (SD 1.x / 2.x, SDXL), not Flux's packed patches or the
    shifted latents of SD 3.5 / Z-Image; the refiner is not combined with a second pass."""
    if family.flow and request.hr_upscaler.startswith("Latent"):
        raise RequestError(
            "hr_upscaler",
            f"latent upscalers work with SD 1.x / 2.x and SDXL models; {what}: choose a pixel upscaler "
            "(Lanczos, Nearest, an ESRGAN model)",
        )
    if request.refiner_checkpoint is not None:
        raise RequestError("enable_hr", "hires fix and a refiner together are not supported: use one of them")
    for name, value in zip(("hr_resize_x", "hr_resize_y"), request.hires_size, strict=True):
        if value % family.size_multiple:
            raise RequestError(
                name,
                f"the hires size {value} is not a multiple of {family.size_multiple}, which {family.label} needs",
            )


def check_refiner(base: Family, refiner: Family, refiner_name: str) -> None:
    """An SDXL model takes an SDXL refiner (or another SDXL model, as A1111 allows)."""
    if base.refiner_family is None:
        raise RequestError("refiner_checkpoint", f"{base.label} models take no refiner")
    if refiner.name not in (base.refiner_family, base.name):
        raise RequestError(
            "refiner_checkpoint",
            f"{refiner_name} is {refiner.label}; an {base.label} model takes an SDXL refiner or SDXL model",
        )


EMBEDDING_FAMILIES = ("sd15", "sd2", "sdxl", "sdxl-refiner")
# families whose prompts the studio encodes itself, in A1111's prompt language
WEIGHTED_PROMPT_FAMILIES = ("sdxl", "sdxl-refiner")
# families whose T5 prompt the studio encodes with emphasis weights (`t5_conditioning`)
T5_WEIGHTED_FAMILIES = ("flux", "flux-fill", "sd3", "chroma")

PLAIN_ONLY = (
    "prompt weights, emphasis ( ) [ ], [from:to:when] editing, AND and BREAK work with SD 1.x / 2.x and SDXL "
    "models (weights also with Flux.1 and SD 3.5); {model} is {family}, whose pipeline encodes the prompt with its own "
    "(T5 / Qwen) encoders: write the prompt without them"
)


def weights_only(text: str, steps: int, field: str, model: str, family: str) -> None:
    """Flux's prompts take emphasis weights (`t5_conditioning`); BREAK, AND and editing are
    refused naming `field`."""
    try:
        parts = parse_prompt(text, steps, positive=field == "prompt")
    except PromptSyntaxError as error:
        raise RequestError(field, str(error)) from None
    if len(parts) != 1 or parts[0].weight != 1.0 or len(parts[0].schedule) != 1:
        raise RequestError(
            field,
            f"{model} is {family}: its prompts take weights and emphasis, not AND or [from:to:when] editing "
            "(its pipeline cannot switch the negative and pooled embeddings between steps)",
        )
    if any(piece.is_break for piece in parse_attention(parts[0].schedule[0].text)):
        raise RequestError(
            field, f"{model} is {family}: BREAK does not apply (T5 reads one 512-token sequence)"
        )


def plain_prompt(text: str, steps: int, field: str, model: str = "the model", family: str = "") -> str:
    """The text a family whose pipeline encodes the prompt itself gets: the prompt as typed,
    with escapes resolved. A1111 syntax it cannot honour is refused naming `field`."""
    try:
        parts = parse_prompt(text, steps, positive=field == "prompt")
    except PromptSyntaxError as error:
        raise RequestError(field, str(error)) from None
    message = PLAIN_ONLY.format(model=model, family=family or "another family")
    if len(parts) != 1 or parts[0].weight != 1.0 or len(parts[0].schedule) != 1:
        raise RequestError(field, message)
    pieces = parse_attention(parts[0].schedule[0].text)
    if any(piece.weight != 1.0 for piece in pieces):
        raise RequestError(field, message)
    return "".join(piece.text for piece in pieces)


def check_plain_prompts(
    family: Family,
    model: str,
    prompt: str,
    negative_prompt: str,
    steps: int,
    loras: Sequence[object],
    embeddings: Sequence[object],
) -> None:
    """LoRA tags work on every family. Embeddings (textual inversion) are SD 1.x / 2.x and SDXL
    files: the T5 and Qwen encoders of SD 3.5, Flux and Z-Image have no trained embeddings
    people ship (Forge and SD.Next load them for SD 1.x / SDXL only). Families whose pipeline
    encodes the prompt take it plain (`plain_prompt`)."""
    del loras  # every family takes LoRAs
    if family.name in ("sd15", "sd2"):
        return
    if embeddings and family.name not in EMBEDDING_FAMILIES:
        raise RequestError(
            "prompt",
            f"textual-inversion embeddings apply to SD 1.x / 2.x and SDXL models; {model} is {family.label}, "
            "whose T5 / Qwen text encoders have no such embeddings: remove the embedding's name from the prompt",
        )
    if family.name in T5_WEIGHTED_FAMILIES:
        weights_only(prompt, steps, "prompt", model, family.label)
        weights_only(negative_prompt, steps, "negative_prompt", model, family.label)
        return
    if family.name in WEIGHTED_PROMPT_FAMILIES:
        try:
            parts = parse_prompt(prompt, steps)
        except PromptSyntaxError as error:
            raise RequestError("prompt", str(error)) from None
        if len(parts) != 1 or parts[0].weight != 1.0:
            raise RequestError(
                "prompt",
                f"AND (composable prompts) works with SD 1.x / 2.x models only; {model} is {family.label}",
            )
        return
    plain_prompt(prompt, steps, "prompt", model, family.label)
    plain_prompt(negative_prompt, steps, "negative_prompt", model, family.label)
