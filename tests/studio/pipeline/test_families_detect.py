"""Model families without weights: detection on the real architectures' key sets, the shipped
config folders, the Flux key mapping against diffusers' own converter, tokenizers.

The key sets are the real ones: every architecture is built from its shipped configs on the
meta device (shapes, no memory) and written out by the exporter in each layout people
download (all-in-one, denoiser alone with or without prefix, diffusers' layout, separate text
encoders and VAE), so detection is tested on the names and shapes real files carry.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import torch

from studio.pipeline.families import family_of, identify
from studio.pipeline.families.config_writer import ARCHITECTURE_CONFIGS, write_all
from studio.pipeline.families.detect import companion_kind, detect_architecture, read_header
from studio.pipeline.families.export import part_to_original
from studio.pipeline.families.sources import CONFIGS_DIR
from studio.pipeline.families.spec import ARCHITECTURES, DENOISER_PREFIX, FAMILIES

SHIPPED = [name for name, arch in ARCHITECTURES.items() if arch.shipped and name != "sd15"]
# parameters in millions, as published
PARAMETERS = {
    ("sdxl", "unet"): 2567,
    ("sdxl", "text_encoder_2"): 695,
    ("sdxl-refiner", "unet"): 2260,
    ("sd35-medium", "transformer"): 2243,
    ("sd35-large", "transformer"): 8057,
    ("sd35-large", "text_encoder_3"): 4762,
    ("flux-dev", "transformer"): 11901,
    ("flux-schnell", "transformer"): 11891,
    ("flux-fill", "transformer"): 11902,
    ("z-image-turbo", "transformer"): 6155,
    ("z-image-turbo", "text_encoder"): 4022,
    ("chroma", "transformer"): 8900,  # Chroma1-HD: 8.9 B
}


@cache
def meta_parts(architecture: str) -> dict[str, Any]:
    """Every weight-bearing part of `architecture`, built from its shipped configs on meta."""
    import diffusers
    import transformers

    folder = CONFIGS_DIR / architecture
    index = json.loads((folder / "model_index.json").read_text())
    parts = {}
    with torch.device("meta"):  # buffers too (SD3's sin-cos table would take seconds to compute)
        for part in FAMILIES[ARCHITECTURES[architecture].family].parts:
            library, class_name = index[part.name]
            if library == "diffusers":
                cls = getattr(diffusers, class_name)
                parts[part.name] = cls.from_config(cls.load_config(folder / part.name))
            else:
                cls = getattr(transformers, class_name)
                parts[part.name] = cls(cls.config_class.from_pretrained(folder / part.name))
    return parts


def shapes_of(architecture: str, layout: str) -> dict[str, tuple[int, ...]]:
    """The key -> shape map of a file of `architecture` in `layout`: all-in-one, bare (the
    denoiser alone, original layout), prefixed (the same under model.diffusion_model.),
    diffusers (the denoiser alone in diffusers' layout)."""
    family = FAMILIES[ARCHITECTURES[architecture].family]
    parts = meta_parts(architecture)
    configs = ARCHITECTURE_CONFIGS[architecture]
    denoiser = family.denoiser
    if layout == "diffusers":
        return {k: tuple(v.shape) for k, v in parts[denoiser.name].state_dict().items()}
    shapes: dict[str, tuple[int, ...]] = {}
    for part in family.parts:
        if layout != "all-in-one" and part is not denoiser:
            continue
        state = part_to_original(part, parts[part.name].state_dict(), configs[part.name])
        prefix = "" if layout == "bare" else part.prefix
        shapes.update({prefix + k: tuple(v.shape) for k, v in state.items()})
    return shapes


@pytest.mark.slow
@pytest.mark.parametrize("architecture", SHIPPED)
def test_each_architecture_is_detected_in_every_layout(architecture: str) -> None:
    for layout in ("all-in-one", "bare", "prefixed", "diffusers"):
        assert detect_architecture(shapes_of(architecture, layout)) == architecture, layout


@pytest.mark.slow
@pytest.mark.parametrize("architecture", SHIPPED)
def test_shipped_configs_build_the_published_architectures(architecture: str) -> None:
    parts = meta_parts(architecture)
    for (name, part), millions in PARAMETERS.items():
        if name == architecture:
            count = sum(p.numel() for p in parts[part].parameters())  # T5's shared embedding once
            assert round(count / 1e6) == millions, (architecture, part)
    folder = CONFIGS_DIR / architecture
    assert not [p for p in folder.rglob("*") if p.suffix in (".safetensors", ".bin", ".ckpt")]


def test_the_shipped_config_folders_are_what_the_writer_writes(tmp_path: Path) -> None:
    write_all(tmp_path)
    for architecture in ARCHITECTURE_CONFIGS:
        for written in (tmp_path / architecture).rglob("*.json"):
            shipped = CONFIGS_DIR / architecture / written.relative_to(tmp_path / architecture)
            assert json.loads(shipped.read_text()) == json.loads(written.read_text()), shipped


@pytest.mark.slow
def test_separate_text_encoders_and_vaes_are_recognised_with_their_widths() -> None:
    sd3 = meta_parts("sd35-large")
    z_image = meta_parts("z-image-turbo")
    cases = {
        "text_encoder": ("clip", 768, sd3),
        "text_encoder_2": ("clip", 1280, sd3),
        "text_encoder_3": ("t5", 4096, sd3),
        "vae": ("vae", 16, sd3),
    }
    families = FAMILIES["sd3"]
    for name, (kind, width, parts) in cases.items():
        part = families.part(name)
        state = part_to_original(part, parts[name].state_dict(), ARCHITECTURE_CONFIGS["sd35-large"][name])
        found = companion_kind({k: tuple(v.shape) for k, v in state.items()})
        assert found is not None and (found.kind, found.width) == (kind, width), name
    qwen = part_to_original(
        FAMILIES["z-image"].part("text_encoder"), z_image["text_encoder"].state_dict(), {}
    )
    found = companion_kind({k: tuple(v.shape) for k, v in qwen.items()})
    assert found is not None and (found.kind, found.width, found.layers) == ("qwen3", 2560, 36)
    assert companion_kind({"some.weight": (3,)}) is None


def test_other_architectures_are_named_not_guessed() -> None:
    assert (
        detect_architecture({"double_blocks.0.img_attn.qkv.weight": (9, 3), "img_in.weight": (3072, 384)})
        == "flux-fill"
    )
    assert detect_architecture({"distilled_guidance_layer.in_proj.bias": (5,)}) == "chroma"
    assert detect_architecture({"single_stream_modulation.lin.weight": (5, 5)}) == "flux2"
    assert detect_architecture({"model.diffusion_model.input_blocks.0.0.weight": (320, 4, 3, 3)}) == "sd15"
    assert detect_architecture({"something.else": (1,)}) == "unknown"
    assert family_of("flux2") is None and family_of("flux-schnell") is FAMILIES["flux"]
    assert family_of("chroma") is FAMILIES["chroma"]
    assert family_of("flux-fill") is FAMILIES["flux-fill"]


def test_flux_mapping_matches_diffusers_converter_at_the_real_width() -> None:
    """diffusers' converter fixes Flux.1's width (3072); ours reads it from the weights. On the
    real key set (each tensor one column wide, real row counts) both give the same tensors."""
    from diffusers.loaders.single_file_utils import convert_flux_transformer_checkpoint_to_diffusers

    from studio.pipeline.families.flux_keys import flux_to_diffusers

    shapes = shapes_of("flux-dev", "bare")
    generator = torch.Generator().manual_seed(0)
    original = {
        k: torch.randn((shape[0], 1) if len(shape) > 1 else shape, generator=generator)
        for k, shape in shapes.items()
    }
    ours = flux_to_diffusers(dict(original))
    theirs = convert_flux_transformer_checkpoint_to_diffusers(
        {DENOISER_PREFIX + k: v for k, v in original.items()}
    )
    assert set(ours) == set(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_shipped_clip_tokenizers_are_clips_own(tmp_path: Path) -> None:
    """The SDXL / SD3 / Flux CLIP tokenizers are built from the one shipped CLIP BPE; the
    OpenCLIP one pads with "!" (id 0) like the published tokenizer_2."""
    from studio.pipeline.families.assemble import SingleFilePlan, _load_tokenizer
    from studio.pipeline.families.sources import config_folders

    path = tmp_path / "xl.safetensors"
    folders = config_folders(path, "sdxl")
    plan = SingleFilePlan(
        path,
        folders.architecture,
        FAMILIES["sdxl"],
        folders,
        tokenizers={"tokenizer": None, "tokenizer_2": None},
    )
    expected = [49406, 320, 1125, 539, 550, 18376, 6765, 320, 4558, 49407]
    for tokenizer, pad in zip(FAMILIES["sdxl"].tokenizers, (49407, 0), strict=True):
        built = _load_tokenizer(plan, tokenizer)
        ids = built("a photo of an astronaut riding a horse", padding="max_length", max_length=12).input_ids
        assert ids == [*expected, pad, pad], tokenizer.name


def test_identify_reads_headers_and_folder_configs(tmp_path: Path, tiny_family: Any) -> None:
    assert identify(tiny_family("flux"), "diffusers") == "flux-dev"
    assert identify(tiny_family("flux-schnell"), "diffusers") == "flux-schnell"
    assert identify(tiny_family("sdxl-refiner"), "diffusers") == "sdxl-refiner"
    assert identify(tiny_family("sd3"), "diffusers") == "sd35-medium"
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x05")
    assert identify(broken, "safetensors") == "unknown"
    assert read_header(tiny_family("z-image") / "vae" / "diffusion_pytorch_model.safetensors").shapes
