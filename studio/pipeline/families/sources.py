"""Where the pieces of a single-file model come from, offline. No torch.

- Configs: a `<file stem>.config/` folder beside the checkpoint overrides, subfolder by
  subfolder, the config folder shipped for the detected architecture
  (`studio/pipeline/configs/<architecture>/`), so a user can add just a missing tokenizer.
- Separate text encoders and VAEs ("transformer only" downloads): files in the A1111 / Forge /
  ComfyUI folders (`text_encoder/`, `text_encoders/`, `clip/`, `VAE/`, `vae/` under each models
  root), matched to the part they fill by what their keys say and by width.
- Tokenizers that cannot be derived (T5's sentencepiece, Qwen's): the `<stem>.config/` folder,
  then the local Hugging Face cache (`try_to_load_from_cache` reads the cache only, never the
  network), else a `ModelLoadError` that names each missing file and where to put it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from studio.pipeline.families.detect import CompanionKind, HeaderError, companion_kind, read_header
from studio.pipeline.families.spec import (
    ARCHITECTURES,
    PIPELINE_FAMILIES,
    UNSUPPORTED,
    Architecture,
    Family,
    Part,
    Tokenizer,
)

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"
CLIP_BPE_DIR = CONFIGS_DIR / "sd15" / "tokenizer"  # CLIP's BPE, shared by every CLIP tokenizer
TEXT_ENCODER_FOLDERS = ("text_encoder", "text_encoders", "clip")
VAE_FOLDERS = ("VAE", "vae")

# Local Hugging Face cache entries that hold each looked-up tokenizer: (repo, subfolder).
TOKENIZER_CACHE_REPOS: dict[str, tuple[tuple[str, str], ...]] = {
    "t5": (
        ("black-forest-labs/FLUX.1-dev", "tokenizer_2"),
        ("black-forest-labs/FLUX.1-schnell", "tokenizer_2"),
        ("stabilityai/stable-diffusion-3.5-large", "tokenizer_3"),
        ("stabilityai/stable-diffusion-3.5-medium", "tokenizer_3"),
        ("google/t5-v1_1-xxl", ""),
    ),
    "qwen": (
        ("Tongyi-MAI/Z-Image-Turbo", "tokenizer"),
        ("Tongyi-MAI/Z-Image", "tokenizer"),
        ("Qwen/Qwen3-4B", ""),
    ),
}
# What a looked-up tokenizer folder must hold: each entry is a set of alternatives.
TOKENIZER_FILES: dict[str, tuple[tuple[str, ...], ...]] = {
    "t5": (("tokenizer.json",), ("tokenizer_config.json",)),
    "qwen": (("tokenizer.json", "vocab.json"), ("tokenizer_config.json",)),
}
TOKENIZER_NAMES = {"t5": "T5 tokenizer", "qwen": "Qwen tokenizer"}


class ModelLoadError(RuntimeError):
    pass


def sibling_config(path: Path) -> Path:
    return path.with_name(path.stem + ".config")


@dataclass(frozen=True)
class ConfigFolders:
    """The config folders of one single file: its `<stem>.config/` over the shipped one."""

    architecture: Architecture
    shipped: Path | None
    sibling: Path | None

    def folder(self, sub: str) -> Path | None:
        """The folder of component `sub` (e.g. "unet"): the sibling's when it has one."""
        for root in (self.sibling, self.shipped):
            if root is not None and (root / sub).is_dir() and any((root / sub).iterdir()):
                return root / sub
        return None

    def model_index(self) -> dict:
        for root in (self.sibling, self.shipped):
            if root is not None and (root / "model_index.json").exists():
                return json.loads((root / "model_index.json").read_text(encoding="utf-8"))
        raise ModelLoadError(f"{self.architecture.label}: no model_index.json")

    def config(self, sub: str) -> dict:
        folder = self.folder(sub)
        if folder is None:
            raise ModelLoadError(f"{self.architecture.label}: no config folder {sub}/")
        for name in ("config.json", "scheduler_config.json"):
            if (folder / name).exists():
                return json.loads((folder / name).read_text(encoding="utf-8"))
        raise ModelLoadError(f"{folder}: no config.json")


def config_folders(path: Path, architecture: str) -> ConfigFolders:
    """The config folders for single file `path` of detected `architecture` (raises
    ModelLoadError). A `<stem>.config/model_index.json` names the family itself: it wins over
    the detection (which goes by shapes for a UNet alone, and cannot tell toy sizes apart)."""
    sibling = sibling_config(path)
    has_sibling = (sibling / "model_index.json").exists()
    arch = ARCHITECTURES.get(architecture)
    if has_sibling:
        index = json.loads((sibling / "model_index.json").read_text(encoding="utf-8"))
        families = PIPELINE_FAMILIES.get(index.get("_class_name", ""))
        if families is None:
            raise ModelLoadError(
                f"{sibling.name}/model_index.json: pipeline {index.get('_class_name')!r} is not one Atelier "
                f"runs ({', '.join(PIPELINE_FAMILIES)})"
            )
        if arch is None or arch.family not in families:
            arch = next(a for a in ARCHITECTURES.values() if a.family == families[0])
    if arch is None:
        what = UNSUPPORTED.get(architecture)
        shipped_names = ", ".join(sorted(name for name, a in ARCHITECTURES.items() if a.shipped))
        if what is not None:
            raise ModelLoadError(f"{path.name}: {what} models are not supported (supported: {shipped_names})")
        raise ModelLoadError(
            f"{path.name}: the keys match no known architecture ({architecture}); supported: {shipped_names}"
        )
    shipped = CONFIGS_DIR / arch.name if arch.shipped else None
    if shipped is None and not has_sibling:
        raise ModelLoadError(
            f"{path.name}: no offline config for architecture {architecture!r} (shipped: "
            f"{', '.join(sorted(p.name for p in CONFIGS_DIR.iterdir() if p.is_dir()))}); put a diffusers "
            f"config folder (model_index.json and component configs, no weights) next to it as {sibling.name}/"
        )
    return ConfigFolders(arch, shipped, sibling if sibling.is_dir() else None)


# -- separate text encoders and VAEs --------------------------------------------------------------
@dataclass(frozen=True)
class Companion:
    path: Path
    kind: CompanionKind
    fp8: bool


def find_companions(roots: Sequence[Path]) -> list[Companion]:
    """Every text encoder and VAE `.safetensors` file in the companion folders of `roots`."""
    found: list[Companion] = []
    seen: set[Path] = set()
    for root in roots:
        for folder_name in (*TEXT_ENCODER_FOLDERS, *VAE_FOLDERS):
            folder = Path(root) / folder_name
            if not folder.is_dir():
                continue
            for path in sorted(folder.rglob("*.safetensors")):
                resolved = path.resolve()
                if resolved in seen or not path.is_file():
                    continue
                seen.add(resolved)
                try:
                    header = read_header(path)
                except (OSError, HeaderError):
                    continue
                kind = companion_kind(header.shapes)
                if kind is not None:
                    found.append(Companion(resolved, kind, header.fp8))
    return found


def _part_width(part: Part, folders: ConfigFolders) -> int:
    config = folders.config(part.name)
    if part.kind == "vae":
        return int(config["latent_channels"])
    if part.kind == "t5":
        return int(config["d_model"])
    return int(config["hidden_size"])


def _fits(part: Part, companion: Companion, width: int) -> bool:
    wanted = "clip" if part.kind == "open-clip" else part.kind
    return companion.kind.kind == wanted and companion.kind.width == width


def choose_companion(part: Part, folders: ConfigFolders, companions: Sequence[Companion]) -> Companion | None:
    """The file that fills `part`: the first by name among those that fit, 16/32-bit before fp8
    (an fp8 file is upcast on load, `fp8_weights`)."""
    width = _part_width(part, folders)
    fitting = [c for c in companions if _fits(part, c, width)]
    fitting.sort(key=lambda c: (c.fp8, c.path.name.lower()))
    return fitting[0] if fitting else None


def missing_part_message(
    part: Part, family: Family, companions: Sequence[Companion], folders: ConfigFolders
) -> str:
    where = "models/VAE/" if part.kind == "vae" else "models/text_encoder/ (or models/clip/)"
    return f"{part.name}: the file has no {part.label} and none was found; put one in {where}"


# -- tokenizers --------------------------------------------------------------------------------
def _complete(folder: Path, kind: str) -> bool:
    return all(any((folder / name).exists() for name in options) for options in TOKENIZER_FILES[kind])


def _cached_tokenizer(kind: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - diffusers depends on it
        return None
    for repo, sub in TOKENIZER_CACHE_REPOS[kind]:
        prefix = f"{sub}/" if sub else ""
        found = try_to_load_from_cache(repo, f"{prefix}tokenizer_config.json")
        if isinstance(found, str) and _complete(Path(found).parent, kind):
            return Path(found).parent
    return None


def tokenizer_source(tokenizer: Tokenizer, folders: ConfigFolders) -> Path | None:
    """The folder a looked-up tokenizer loads from, or None when it is nowhere to be found.
    CLIP tokenizers are built from the shipped BPE (see `clip_tokenizer_files`)."""
    if folders.sibling is not None:
        candidate = folders.sibling / tokenizer.name
        if tokenizer.kind == "clip" and (candidate / "vocab.json").exists():
            return candidate
        if tokenizer.kind != "clip" and _complete(candidate, tokenizer.kind):
            return candidate
    if tokenizer.kind == "clip":
        return None
    return _cached_tokenizer(tokenizer.kind)


def missing_tokenizer_message(tokenizer: Tokenizer, path: Path) -> str:
    files = " and ".join(" or ".join(options) for options in TOKENIZER_FILES[tokenizer.kind])
    repos = ", ".join(f"{repo}/{sub}" if sub else repo for repo, sub in TOKENIZER_CACHE_REPOS[tokenizer.kind])
    return (
        f"{tokenizer.name}: the {TOKENIZER_NAMES[tokenizer.kind]} cannot be derived offline and was not "
        f"found; put {files} in {sibling_config(path).name}/{tokenizer.name}/ next to {path.name} "
        f"(copy them from {repos}), or have one of those in the local Hugging Face cache"
    )
