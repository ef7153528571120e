"""Build a pipeline of any family from a single file, part by part, offline.

What diffusers' `Pipeline.from_single_file(path, config=...)` does, with two additions: parts
the file lacks come from separate files (`sources.choose_companion`), and every config and
tokenizer comes from local folders (`sources`), so no call ever reaches a model hub. Parts
inside the file load through diffusers' own single-file loaders (`from_single_file` with a
state dict, `create_diffusers_clip_model_from_ldm`); text encoders in transformers' own layout
(separate files, T5 and Qwen3 inside a file) load as such. Everything that
is missing is reported at once, before any weight is read.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.pipeline.families.detect import detect_architecture, read_header
from studio.pipeline.families.fp8_weights import load_weights
from studio.pipeline.families.sources import (
    CLIP_BPE_DIR,
    Companion,
    ConfigFolders,
    ModelLoadError,
    choose_companion,
    config_folders,
    find_companions,
    missing_part_message,
    missing_tokenizer_message,
    tokenizer_source,
)
from studio.pipeline.families.spec import (
    CHROMA,
    CLIP,
    DENOISER_PREFIX,
    FLUX,
    MMDIT,
    OPEN_CLIP,
    QWEN3,
    T5,
    UNET,
    VAE,
    ZIMAGE,
    Architecture,
    Family,
    Part,
    Tokenizer,
    family_named,
)


@dataclass
class SingleFilePlan:
    """What one single file is and where each of its parts and tokenizers comes from."""

    path: Path
    architecture: Architecture
    family: Family
    folders: ConfigFolders
    parts: dict[str, Companion | None] = field(default_factory=dict)  # None: inside the file
    tokenizers: dict[str, Path | None] = field(default_factory=dict)  # None: shipped CLIP BPE

    @property
    def companion_files(self) -> list[Path]:
        return [c.path for c in self.parts.values() if c is not None]


def _in_file(part: Part, keys: Sequence[str], family: Family) -> bool:
    if any(key.startswith(part.prefix) for key in keys):
        return True
    if part is family.denoiser:
        # a denoiser saved alone: its keys carry no prefix, and no other part's prefix is there
        others = [p.prefix for p in family.parts if p is not part]
        return any(not key.startswith(tuple(others)) for key in keys)
    return False


def plan_single_file(path: Path, companion_roots: Sequence[Path]) -> SingleFilePlan:
    """Detect the architecture and find every part and tokenizer; raise ModelLoadError naming
    everything that is missing."""
    header = read_header(path)
    architecture_name = detect_architecture(header.shapes)
    folders = config_folders(path, architecture_name)
    family = family_named(folders.architecture.family)
    plan = SingleFilePlan(path, folders.architecture, family, folders)
    problems: list[str] = []
    keys = list(header.shapes)
    companions: list[Companion] | None = None
    for part in family.parts:
        if _in_file(part, keys, family):
            plan.parts[part.name] = None
            continue
        if part is family.denoiser:
            problems.append(f"{part.name}: the file holds no {part.label}")
            continue
        if companions is None:
            companions = find_companions(companion_roots)
        chosen = choose_companion(part, folders, companions)
        if chosen is None:
            problems.append(missing_part_message(part, family, companions, folders))
        else:
            plan.parts[part.name] = chosen
    for tokenizer in family.tokenizers:
        source = tokenizer_source(tokenizer, folders)
        if source is None and tokenizer.kind != "clip":
            problems.append(missing_tokenizer_message(tokenizer, path))
        plan.tokenizers[tokenizer.name] = source
    if problems:
        raise ModelLoadError(
            f"{path.name} ({folders.architecture.label}) cannot be loaded offline:\n- "
            + "\n- ".join(problems)
        )
    return plan


# -- loading ---------------------------------------------------------------------------------------
def _config_args(plan: SingleFilePlan, name: str) -> dict[str, Any]:
    folder = plan.folders.folder(name)
    if folder is None:
        raise ModelLoadError(f"{plan.path.name}: no config for {name}")
    return {"config": str(folder.parent), "subfolder": folder.name, "local_files_only": True}


def _is_diffusers_denoiser(kind: str, state: dict[str, Any]) -> bool:
    keys = set(state)
    if kind == UNET:
        return "conv_in.weight" in keys and any(k.startswith("down_blocks.") for k in keys)
    if kind == MMDIT:
        return "pos_embed.proj.weight" in keys
    if kind == ZIMAGE:
        return any(k.startswith("all_x_embedder.") for k in keys)
    if kind == CHROMA:
        return "x_embedder.weight" in keys
    return False


def _load_denoiser(plan: SingleFilePlan, part: Part, state: dict[str, Any], dtype: Any) -> Any:
    import diffusers

    from studio.pipeline.families.flux_keys import flux_to_diffusers

    cls = getattr(diffusers, plan.folders.model_index()[part.name][1])
    bare = {k.removeprefix(DENOISER_PREFIX): v for k, v in state.items()}
    if part.kind == FLUX:
        weights = flux_to_diffusers(bare)
    elif _is_diffusers_denoiser(part.kind, bare):
        weights = bare
    else:  # the original layout, which diffusers converts (its converters want the prefix)
        weights = {DENOISER_PREFIX + k: v for k, v in bare.items()}
    return cls.from_single_file(weights, torch_dtype=dtype, **_config_args(plan, part.name))


def _load_transformers_part(plan: SingleFilePlan, part: Part, state: dict[str, Any], dtype: Any) -> Any:
    """A text encoder from a state dict in transformers' own layout (a separate file)."""
    import torch
    import transformers
    from accelerate import init_empty_weights
    from diffusers.models.model_loading_utils import load_model_dict_into_meta

    cls = getattr(transformers, plan.folders.model_index()[part.name][1])
    folder = plan.folders.folder(part.name)
    config = cls.config_class.from_pretrained(folder, local_files_only=True)
    with init_empty_weights():
        model = cls(config)
    expected = set(model.state_dict())
    weights: dict[str, Any] = {}
    for key, value in state.items():
        for candidate in (
            key,
            key.removeprefix("model."),
            key.removeprefix("text_model."),
            f"text_model.{key}",
        ):
            if candidate in expected:
                weights[candidate] = value
                break
    if "encoder.embed_tokens.weight" in expected and "shared.weight" in weights:
        weights.setdefault(
            "encoder.embed_tokens.weight", weights["shared.weight"]
        )  # T5's tied input embedding
    if "text_projection.weight" in expected and "text_projection.weight" not in weights:
        # CLIP-L files of SD3 / Flux carry no projection: the original models use none (identity)
        weights["text_projection.weight"] = torch.eye(config.projection_dim, config.hidden_size)
    missing = sorted(expected - set(weights))
    if missing:
        source = plan.parts[part.name]
        raise ModelLoadError(
            f"{part.name}: {source.path.name if source else plan.path.name} lacks {len(missing)} weights of the "
            f"{part.label} (first: {', '.join(missing[:3])})"
        )
    load_model_dict_into_meta(model, weights, dtype=dtype)
    model.eval()
    return model


def _load_part(plan: SingleFilePlan, part: Part, checkpoint: dict[str, Any], dtype: Any) -> Any:
    import transformers
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import create_diffusers_clip_model_from_ldm

    companion = plan.parts[part.name]
    if companion is not None:
        state = load_weights(companion.path, dtype)
        if part.kind == VAE:
            return AutoencoderKL.from_single_file(state, torch_dtype=dtype, **_config_args(plan, part.name))
        return _load_transformers_part(plan, part, state, dtype)
    others = tuple(p.prefix for p in plan.family.parts if p is not part)
    if part is plan.family.denoiser:
        state = {k: v for k, v in checkpoint.items() if k.startswith(part.prefix) or not k.startswith(others)}
        return _load_denoiser(plan, part, state, dtype)
    state = {k: v for k, v in checkpoint.items() if k.startswith(part.prefix)}
    args = _config_args(plan, part.name)
    if part.kind == VAE:
        return AutoencoderKL.from_single_file(state, torch_dtype=dtype, **args)
    cls = getattr(transformers, plan.folders.model_index()[part.name][1])
    if part.kind in (CLIP, OPEN_CLIP):
        if cls.__name__ == "CLIPTextModel":  # diffusers' SD3-layout path adds a projection it lacks
            state = {k: v for k, v in state.items() if not k.endswith("text_projection.weight")}
            if part.prefix.startswith("text_encoders."):
                return _load_transformers_part(
                    plan, part, {k[len(part.prefix) :]: v for k, v in state.items()}, dtype
                )
        return create_diffusers_clip_model_from_ldm(cls, checkpoint=state, torch_dtype=dtype, **args)
    if part.kind in (T5, QWEN3):  # transformers' layout under a prefix (diffusers' T5 path leaves
        # T5's tied input embedding unloaded)
        return _load_transformers_part(
            plan, part, {k[len(part.prefix) :]: v for k, v in state.items()}, dtype
        )
    raise ModelLoadError(f"{part.name}: no loader for {part.kind}")


def _load_tokenizer(plan: SingleFilePlan, tokenizer: Tokenizer) -> Any:
    import transformers

    cls = getattr(transformers, plan.folders.model_index()[tokenizer.name][1])
    source = plan.tokenizers[tokenizer.name]
    if source is not None:
        return cls.from_pretrained(source, local_files_only=True)
    # CLIP: CLIP's shared BPE with this tokenizer's settings (its pad token)
    config_folder = plan.folders.folder(tokenizer.name)
    settings = (
        json.loads((config_folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        if config_folder
        else {}
    )
    vocab = json.loads((CLIP_BPE_DIR / "vocab.json").read_text(encoding="utf-8"))
    lines = (CLIP_BPE_DIR / "merges.txt").read_text(encoding="utf-8").split("\n")[1:]
    merges = [tuple(line.split(" ")) for line in lines if line]
    keep = ("bos_token", "eos_token", "unk_token", "pad_token", "model_max_length", "do_lower_case")
    return transformers.CLIPTokenizer(
        vocab=vocab, merges=merges, **{k: v for k, v in settings.items() if k in keep}
    )


def _scheduler(plan: SingleFilePlan) -> Any:
    import diffusers

    config = plan.folders.config("scheduler")
    return getattr(diffusers, config["_class_name"]).from_config(config)


def assemble_pipeline(plan: SingleFilePlan, dtype: Any) -> Any:
    """The txt2img pipeline (img2img for a refiner) of the planned single file."""
    import diffusers

    index = plan.folders.model_index()
    cls = getattr(diffusers, index["_class_name"])
    checkpoint = load_weights(plan.path, dtype)  # fp8 weights upcast
    components: dict[str, Any] = {"scheduler": _scheduler(plan)}
    for part in plan.family.parts:
        components[part.name] = _load_part(plan, part, checkpoint, dtype)
    del checkpoint
    for tokenizer in plan.family.tokenizers:
        components[tokenizer.name] = _load_tokenizer(plan, tokenizer)
    parameters = inspect.signature(cls.__init__).parameters
    for name, value in index.items():
        if name in parameters and name not in components:
            components[name] = None if isinstance(value, list) else value
    if "requires_safety_checker" in parameters:
        components["requires_safety_checker"] = False
    return cls(**components)


def load_single_file(path: Path, dtype: Any, companion_roots: Sequence[Path]) -> tuple[Any, SingleFilePlan]:
    plan = plan_single_file(Path(path), companion_roots)
    return assemble_pipeline(plan, dtype), plan
