"""Model families: SD 1.x, SDXL (and its refiner), SD 3.5, Flux.1 and Z-Image.

The torch-free part, what the model list, the engine's checks and the UI need:
`identify(path, format)` names a model's architecture from its keys or configs (no weights
read), `family_of` gives its `Family` (spec.py: parts, pipelines per mode, native size, sampler
kind, the request fields it honours), `check_request` refuses what a family cannot do.
Loading lives in `assemble` (single files) and `studio.pipeline.loader`; running in `runtime`.
"""

from __future__ import annotations

import json
from pathlib import Path

from studio.pipeline.families.detect import HeaderError, detect_architecture, read_header
from studio.pipeline.families.spec import ARCHITECTURES, FAMILIES, PIPELINE_FAMILIES, Architecture, Family
from studio.pipeline.samplers import SamplerContext

UNKNOWN = "unknown"


def _folder_architecture(folder: Path) -> str:
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    families = PIPELINE_FAMILIES.get(index.get("_class_name", ""))
    if families is None:
        return UNKNOWN
    family = families[0]

    def config(sub: str) -> dict:
        try:
            return json.loads((folder / sub / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    if family == "sd15":
        return "sd2" if config("unet").get("cross_attention_dim") == 1024 else "sd15"
    if family == "sd3":
        transformer = config("transformer")
        if transformer.get("num_layers", 0) >= 38:
            return "sd35-large"
        return "sd35-medium" if transformer.get("dual_attention_layers") else "sd3-medium"
    if family == "flux":
        return "flux-dev" if config("transformer").get("guidance_embeds", True) else "flux-schnell"
    if family == "z-image":
        return "z-image-turbo"
    return family  # sdxl, sdxl-refiner


def identify(path: Path, format: str) -> str:
    """The architecture of a checkpoint (`spec.ARCHITECTURES` key, `spec.UNSUPPORTED` key or
    "unknown") from a diffusers folder's configs or a single file's header; reads no weights."""
    path = Path(path)
    try:
        if format == "diffusers":
            return _folder_architecture(path)
        sibling = path.with_name(path.stem + ".config") / "model_index.json"
        # a pickle file cannot be looked into without running it: SD 1.x unless its config says
        detected = detect_architecture(read_header(path).shapes) if format == "safetensors" else "sd15"
        if sibling.exists():
            index = json.loads(sibling.read_text(encoding="utf-8"))
            families = PIPELINE_FAMILIES.get(index.get("_class_name", ""))
            known = ARCHITECTURES.get(detected)
            if families is not None and (known is None or known.family not in families):
                # the config folder beside it names the family (see sources.config_folders)
                return next(name for name, arch in ARCHITECTURES.items() if arch.family == families[0])
        return detected
    except (OSError, ValueError, HeaderError):
        return UNKNOWN


def architecture_of(name: str) -> Architecture | None:
    return ARCHITECTURES.get(name)


def family_of(architecture: str) -> Family | None:
    """The family of an architecture name, or None when Atelier does not run it."""
    arch = ARCHITECTURES.get(architecture)
    return None if arch is None else FAMILIES[arch.family]


def sampler_context(family: Family | None) -> SamplerContext:
    """What the family needs of its samplers (SD 1.x / SDXL: the plain ones)."""
    if family is None or not family.flow:
        return SamplerContext()
    return SamplerContext(flow=True, only=family.flow_samplers)
