"""What each model family is made of and how the studio drives it. Data only, no torch.

A *family* is one way of running a model (its diffusers pipeline classes, its parts, its
sampler kind, the request fields it honours). An *architecture* is one shape of a family with
its own shipped config folder (`studio/pipeline/configs/<architecture>/`): Flux.1 dev and
Flux.1 schnell are two architectures of the family `flux`.

A *part* is one weight-bearing component of a pipeline (the UNet or transformer, the VAE, each
text encoder). `prefix` is where that part lives in an all-in-one single file, the layout
A1111, Forge and ComfyUI save; a file that lacks a part (a "transformer only" download) gets it
from a separate file in the text encoder or VAE folders (see `detect.find_companions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Part kinds: what the weights are, so a separate file can be matched to the part it fills.
UNET = "unet"
MMDIT = "mmdit"  # SD3 / SD3.5 transformer
FLUX = "flux"  # Flux.1 transformer
ZIMAGE = "z-image"  # Z-Image transformer
CHROMA = "chroma"  # Chroma transformer (Flux.1 schnell's, pruned: no CLIP, no guidance embedding)
VAE = "vae"
CLIP = "clip"  # CLIP text encoder (ViT-L or OpenCLIP bigG) in Hugging Face layout
OPEN_CLIP = "open-clip"  # OpenCLIP text encoder in its own layout (SDXL's conditioner.embedders)
T5 = "t5"
QWEN3 = "qwen3"
DENOISERS = (UNET, MMDIT, FLUX, ZIMAGE, CHROMA)

DENOISER_PREFIX = "model.diffusion_model."


@dataclass(frozen=True)
class Part:
    name: str  # the pipeline's attribute: unet, transformer, vae, text_encoder, text_encoder_2 ...
    kind: str
    prefix: str  # where it lives in an all-in-one single file
    label: str  # for messages: what it is and the usual file name
    optional: bool = False  # the pipeline runs without it (diffusers accepts None)


@dataclass(frozen=True)
class Tokenizer:
    name: str  # the pipeline's attribute and config subfolder: tokenizer, tokenizer_2 ...
    kind: str  # "clip" (derived from the shipped CLIP BPE), "t5" or "qwen" (looked up)
    pad_token: str = "<|endoftext|>"  # clip only: OpenCLIP's tokenizers pad with "!"


@dataclass(frozen=True)
class Family:
    name: str
    label: str
    pipelines: Mapping[str, str]  # mode -> diffusers pipeline class name
    parts: tuple[Part, ...]
    tokenizers: tuple[Tokenizer, ...]
    native_size: int
    flow: bool  # flow matching (FlowMatch* schedulers, shift) rather than noise prediction
    size_multiple: int  # width and height must be multiples of this
    default_steps: int
    default_cfg: float
    default_sampler: str
    # request fields only this family honours (a non-default value elsewhere is an error)
    fields: frozenset[str] = frozenset()
    # flow-matching families whose pipelines hand the scheduler their own sigmas and shift run
    # only with these samplers (tested); None: every sampler with a flow variant
    flow_samplers: frozenset[str] | None = None
    clip_skip: bool = True  # A1111's clip skip applies (its text encoders are CLIPs)
    memory: str = ""  # what it needs, for the docs and the model list
    refiner_family: str | None = None  # the family a `refiner_checkpoint` may be

    @property
    def denoiser(self) -> Part:
        return next(part for part in self.parts if part.kind in DENOISERS)

    def part(self, name: str) -> Part:
        return next(part for part in self.parts if part.name == name)


@dataclass(frozen=True)
class Architecture:
    name: str  # the shipped config folder's name
    family: str
    label: str
    defaults: Mapping[str, float] = field(default_factory=dict)  # overrides of the family's
    shipped: bool = True  # a config folder ships for it (else a `<stem>.config/` folder is needed)


_CLIP_L = Part("text_encoder", CLIP, "cond_stage_model.transformer.", "CLIP ViT-L text encoder")
_SD_VAE = Part("vae", VAE, "first_stage_model.", "VAE")
_SDXL_CLIP_L = Part("text_encoder", CLIP, "conditioner.embedders.0.transformer.", "CLIP ViT-L text encoder")
_SDXL_CLIP_G = Part(
    "text_encoder_2", OPEN_CLIP, "conditioner.embedders.1.model.", "OpenCLIP bigG text encoder"
)
_SD3_CLIP_L = Part(
    "text_encoder", CLIP, "text_encoders.clip_l.transformer.", "CLIP ViT-L text encoder (clip_l.safetensors)"
)
_SD3_CLIP_G = Part(
    "text_encoder_2",
    CLIP,
    "text_encoders.clip_g.transformer.",
    "OpenCLIP bigG text encoder (clip_g.safetensors)",
)
_T5 = "T5-XXL text encoder (t5xxl_fp16.safetensors)"
# Flux.1's text side, shared by its variants (dev / schnell and Fill)
_FLUX_TEXT_ENCODERS = (_SD3_CLIP_L, Part("text_encoder_2", T5, "text_encoders.t5xxl.transformer.", _T5))
_FLUX_TOKENIZERS = (Tokenizer("tokenizer", "clip"), Tokenizer("tokenizer_2", "t5"))

# Samplers whose flow variants are FlowMatch* schedulers: they take the sigmas and shift that
# the Flux and Z-Image pipelines pass (DPM-Solver, UniPC, DEIS and Heun do not, or break).
FLOW_MATCH_SAMPLERS = frozenset({"Euler", "Euler a", "LCM"})
SDXL_FIELDS = frozenset({"original_width", "original_height", "crop_left", "crop_top", "refiner_checkpoint"})

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            "sd15",
            "SD 1.x",
            {
                "txt2img": "StableDiffusionPipeline",
                "img2img": "StableDiffusionImg2ImgPipeline",
                "inpaint": "StableDiffusionInpaintPipeline",
            },
            (Part("unet", UNET, DENOISER_PREFIX, "UNet"), _SD_VAE, _CLIP_L),
            (Tokenizer("tokenizer", "clip"),),
            native_size=512,
            flow=False,
            size_multiple=8,
            default_steps=20,
            default_cfg=7.0,
            default_sampler="Euler a",
            memory="UNet 0.86 B + CLIP 0.12 B + VAE 0.08 B parameters: 2.1 GB of weights in fp16",
        ),
        Family(
            "sd2",
            "SD 2.x",
            {
                "txt2img": "StableDiffusionPipeline",
                "img2img": "StableDiffusionImg2ImgPipeline",
                "inpaint": "StableDiffusionInpaintPipeline",
            },
            (
                Part("unet", UNET, DENOISER_PREFIX, "UNet"),
                _SD_VAE,
                Part("text_encoder", OPEN_CLIP, "cond_stage_model.model.", "OpenCLIP ViT-H text encoder"),
            ),
            (Tokenizer("tokenizer", "clip", pad_token="!"),),
            native_size=768,
            flow=False,
            size_multiple=8,
            default_steps=20,
            default_cfg=7.0,
            default_sampler="Euler a",
            memory="UNet 0.87 B + OpenCLIP-H 0.35 B + VAE 0.08 B parameters: 2.6 GB of weights in fp16",
        ),
        Family(
            "sdxl",
            "SDXL",
            {
                "txt2img": "StableDiffusionXLPipeline",
                "img2img": "StableDiffusionXLImg2ImgPipeline",
                "inpaint": "StableDiffusionXLInpaintPipeline",
            },
            (Part("unet", UNET, DENOISER_PREFIX, "UNet"), _SD_VAE, _SDXL_CLIP_L, _SDXL_CLIP_G),
            (Tokenizer("tokenizer", "clip"), Tokenizer("tokenizer_2", "clip", pad_token="!")),
            native_size=1024,
            flow=False,
            size_multiple=8,
            default_steps=25,
            default_cfg=6.0,
            default_sampler="DPM++ 2M",
            fields=SDXL_FIELDS,
            memory="UNet 2.57 B + CLIPs 0.82 B + VAE 0.08 B parameters: 6.9 GB of weights in 16 bits",
            refiner_family="sdxl-refiner",
        ),
        Family(
            "sdxl-refiner",
            "SDXL refiner",
            # The refiner denoises only the last steps of an image: it has no text-to-image mode.
            {"img2img": "StableDiffusionXLImg2ImgPipeline", "inpaint": "StableDiffusionXLInpaintPipeline"},
            (
                Part("unet", UNET, DENOISER_PREFIX, "UNet"),
                _SD_VAE,
                Part(
                    "text_encoder_2",
                    OPEN_CLIP,
                    "conditioner.embedders.0.model.",
                    "OpenCLIP bigG text encoder",
                ),
            ),
            (Tokenizer("tokenizer_2", "clip", pad_token="!"),),
            native_size=1024,
            flow=False,
            size_multiple=8,
            default_steps=25,
            default_cfg=6.0,
            default_sampler="DPM++ 2M",
            fields=frozenset({"original_width", "original_height", "crop_left", "crop_top"}),
            memory="UNet 2.26 B + OpenCLIP bigG 0.69 B + VAE 0.08 B parameters: 6.1 GB of weights in 16 bits",
        ),
        Family(
            "sd3",
            "SD 3.5",
            {
                "txt2img": "StableDiffusion3Pipeline",
                "img2img": "StableDiffusion3Img2ImgPipeline",
                "inpaint": "StableDiffusion3InpaintPipeline",
            },
            (
                Part("transformer", MMDIT, DENOISER_PREFIX, "MMDiT transformer"),
                _SD_VAE,
                _SD3_CLIP_L,
                _SD3_CLIP_G,
                Part("text_encoder_3", T5, "text_encoders.t5xxl.transformer.", _T5),
            ),
            (
                Tokenizer("tokenizer", "clip"),
                Tokenizer("tokenizer_2", "clip", pad_token="!"),
                Tokenizer("tokenizer_3", "t5"),
            ),
            native_size=1024,
            flow=True,
            size_multiple=16,
            default_steps=28,
            default_cfg=4.5,
            default_sampler="Euler",
            fields=frozenset({"flow_shift", "skip_layer_guidance_scale"}),
            memory="transformer 2.24 B (medium) or 8.06 B (large) + T5-XXL 4.76 B + CLIPs 0.82 B + VAE: "
            "15.7 GB (medium) or 27.2 GB (large) of weights in bf16, T5 alone 9.5 GB",
        ),
        Family(
            "flux",
            "Flux.1",
            {"txt2img": "FluxPipeline", "img2img": "FluxImg2ImgPipeline", "inpaint": "FluxInpaintPipeline"},
            (
                Part("transformer", FLUX, DENOISER_PREFIX, "Flux transformer"),
                Part("vae", VAE, "vae.", "Flux VAE (ae.safetensors)"),
                *_FLUX_TEXT_ENCODERS,
            ),
            _FLUX_TOKENIZERS,
            native_size=1024,
            flow=True,
            size_multiple=16,
            default_steps=20,
            default_cfg=1.0,
            default_sampler="Euler",
            fields=frozenset({"flow_shift", "distilled_cfg_scale"}),
            clip_skip=False,
            flow_samplers=FLOW_MATCH_SAMPLERS,
            memory="transformer 11.9 B + T5-XXL 4.76 B + CLIP-L 0.12 B + VAE: 33.6 GB of weights in bf16 "
            "(transformer 23.8 GB, T5 9.5 GB)",
        ),
        Family(
            "flux-fill",
            "Flux.1 Fill",
            {"inpaint": "FluxFillPipeline"},
            (
                Part("transformer", FLUX, DENOISER_PREFIX, "Flux Fill transformer"),
                Part("vae", VAE, "vae.", "Flux VAE (ae.safetensors)"),
                *_FLUX_TEXT_ENCODERS,
            ),
            _FLUX_TOKENIZERS,
            native_size=1024,
            flow=True,
            size_multiple=16,
            default_steps=28,
            default_cfg=1.0,
            default_sampler="Euler",
            fields=frozenset({"flow_shift", "distilled_cfg_scale"}),
            clip_skip=False,
            flow_samplers=FLOW_MATCH_SAMPLERS,
            memory="as Flux.1 dev: transformer 11.9 B + T5-XXL 4.76 B + CLIP-L 0.12 B + VAE: 33.6 GB of weights "
            "in bf16",
        ),
        Family(
            "z-image",
            "Z-Image",
            {
                "txt2img": "ZImagePipeline",
                "img2img": "ZImageImg2ImgPipeline",
                "inpaint": "ZImageInpaintPipeline",
            },
            (
                Part("transformer", ZIMAGE, DENOISER_PREFIX, "Z-Image transformer"),
                Part("vae", VAE, "vae.", "Flux VAE (ae.safetensors)"),
                Part(
                    "text_encoder",
                    QWEN3,
                    "text_encoders.qwen3_4b.transformer.",
                    "Qwen3-4B text encoder (qwen_3_4b.safetensors)",
                ),
            ),
            (Tokenizer("tokenizer", "qwen"),),
            native_size=1024,
            flow=True,
            size_multiple=16,
            default_steps=9,
            default_cfg=1.0,
            default_sampler="Euler",
            fields=frozenset({"flow_shift"}),
            flow_samplers=FLOW_MATCH_SAMPLERS,
            clip_skip=False,
            memory="transformer 6.15 B + Qwen3-4B 4.02 B + VAE: 20.5 GB of weights in bf16 "
            "(transformer 12.3 GB, text encoder 8.0 GB)",
        ),
        Family(
            "chroma",
            "Chroma",
            {
                "txt2img": "ChromaPipeline",
                "img2img": "ChromaImg2ImgPipeline",
                "inpaint": "ChromaInpaintPipeline",
            },
            (
                Part("transformer", CHROMA, DENOISER_PREFIX, "Chroma transformer"),
                Part("vae", VAE, "vae.", "Flux VAE (ae.safetensors)"),
                Part("text_encoder", T5, "text_encoders.t5xxl.transformer.", _T5),
            ),
            (Tokenizer("tokenizer", "t5"),),
            native_size=1024,
            flow=True,
            size_multiple=16,
            default_steps=26,
            default_cfg=4.0,
            default_sampler="Euler",
            fields=frozenset({"flow_shift"}),
            flow_samplers=FLOW_MATCH_SAMPLERS,
            clip_skip=False,
            memory="transformer 8.9 B + T5-XXL 4.76 B + VAE: 27.3 GB of weights in bf16 "
            "(transformer 17.8 GB, T5 9.5 GB)",
        ),
    )
}

ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        Architecture("sd15", "sd15", "SD 1.x"),
        Architecture("sd2", "sd2", "SD 2.x", shipped=False),
        Architecture("sd3-medium", "sd3", "SD 3 medium", shipped=False),
        Architecture("sdxl", "sdxl", "SDXL"),
        Architecture("sdxl-refiner", "sdxl-refiner", "SDXL refiner"),
        Architecture("sd35-medium", "sd3", "SD 3.5 medium", {"default_cfg": 4.5, "default_steps": 40}),
        Architecture("sd35-large", "sd3", "SD 3.5 large", {"default_cfg": 3.5, "default_steps": 28}),
        Architecture("flux-dev", "flux", "Flux.1 dev", {"default_steps": 20}),
        Architecture("flux-schnell", "flux", "Flux.1 schnell", {"default_steps": 4}),
        Architecture("flux-fill", "flux-fill", "Flux.1 Fill", {"default_steps": 28}),
        Architecture("z-image-turbo", "z-image", "Z-Image Turbo", {"default_steps": 9}),
        Architecture("chroma", "chroma", "Chroma"),
    )
}

# Architectures recognised from their keys that Atelier does not run (yet).
UNSUPPORTED = {
    "flux2": "Flux.2",
}

# The families a diffusers folder's pipeline class may be (the first unless its configs say).
PIPELINE_FAMILIES: dict[str, tuple[str, ...]] = {
    "StableDiffusionPipeline": ("sd15", "sd2"),
    "StableDiffusionXLPipeline": ("sdxl",),
    "StableDiffusionXLImg2ImgPipeline": ("sdxl-refiner",),
    "StableDiffusion3Pipeline": ("sd3",),
    "FluxPipeline": ("flux",),
    "FluxFillPipeline": ("flux-fill",),
    "ZImagePipeline": ("z-image",),
    "ChromaPipeline": ("chroma",),
}


def family_named(name: str) -> Family:
    return FAMILIES[name]


def architecture_named(name: str) -> Architecture:
    return ARCHITECTURES[name]


# Request fields that only some families honour, with the value that means "not used".
FAMILY_FIELD_DEFAULTS: dict[str, object] = {
    "original_width": 0,
    "original_height": 0,
    "crop_left": 0,
    "crop_top": 0,
    "refiner_checkpoint": None,
    "distilled_cfg_scale": None,
    "flow_shift": None,
    "skip_layer_guidance_scale": 0.0,
}
