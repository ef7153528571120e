"""Load pipelines from registry entries, keep the last few in an LRU cache, share components.

Diffusers folders load with `from_pretrained(local_files_only=True)`; single `.safetensors`
files with `from_single_file(config=<local config folder>)` so no hub call is ever made: a
`<file stem>.config/` diffusers config folder next to the file wins, else the architecture is
recognised from the state-dict keys and a config folder shipped in `studio/pipeline/configs/`
is used. txt2img, img2img and inpaint pipelines are built from one set of modules
(`from_pipe`), so switching mode loads nothing.
"""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.devices.base import DeviceChoice
from studio.memory import MemoryStrategy, apply_memory_options, moves_model_itself
from studio.pipeline.model_registry import ModelEntry, refuse_pickle

CONFIGS_DIR = Path(__file__).resolve().parent / "configs"


class ModelLoadError(RuntimeError):
    pass


def detect_architecture(path: Path) -> str:
    """`sd15`, `sd2`, `sdxl` or `unknown` from a single-file checkpoint's keys."""
    if path.suffix.lower() != ".safetensors":
        return "sd15"
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        keys = list(handle.keys())
    if any(key.startswith("conditioner.embedders.1") for key in keys):
        return "sdxl"
    if any(key.startswith("cond_stage_model.model.") for key in keys):
        return "sd2"
    if any(key.startswith("cond_stage_model.transformer.") for key in keys):
        return "sd15"
    return "unknown"


def config_folder_for(path: Path) -> Path:
    """The local diffusers config folder used to load single file `path` offline."""
    sibling = path.with_name(path.stem + ".config")
    if (sibling / "model_index.json").exists() or (sibling / "config.json").exists():
        return sibling
    architecture = detect_architecture(path)
    shipped = CONFIGS_DIR / architecture
    if not (shipped / "model_index.json").exists():
        raise ModelLoadError(
            f"{path.name}: no offline config for architecture {architecture!r} (shipped: "
            f"{', '.join(sorted(p.name for p in CONFIGS_DIR.iterdir() if p.is_dir()))}); put a diffusers "
            f"config folder (model_index.json and component configs, no weights) next to it as {sibling.name}/"
        )
    return shipped


def _pipeline_class(name: str) -> Any:
    import diffusers

    return getattr(diffusers, name)


def load_pipeline(
    entry: ModelEntry,
    device: DeviceChoice,
    memory: dict[str, Any],
    allow_pickle: bool,
    memory_strategies: Mapping[str, MemoryStrategy] | None = None,
) -> Any:
    """The pipeline of `entry` on `device`, with the `memory` options applied from
    `memory_strategies` (the studio's registry; the built-ins when None)."""
    import json

    refuse_pickle(entry, allow_pickle)
    dtype = device.dtype
    if entry.format == "diffusers":
        index = json.loads((entry.path / "model_index.json").read_text(encoding="utf-8"))
        cls = _pipeline_class(index["_class_name"])
        extra = (
            {"safety_checker": None, "requires_safety_checker": False} if "safety_checker" in index else {}
        )
        pipe = cls.from_pretrained(entry.path, local_files_only=True, dtype=dtype, **extra)
    else:
        config = config_folder_for(entry.path)
        index = json.loads((config / "model_index.json").read_text(encoding="utf-8"))
        cls = _pipeline_class(index["_class_name"])
        extra = (
            {"safety_checker": None, "requires_safety_checker": False} if "safety_checker" in index else {}
        )
        pipe = cls.from_single_file(
            str(entry.path), config=str(config), local_files_only=True, dtype=dtype, **extra
        )
    pipe.set_progress_bar_config(disable=True)
    if not moves_model_itself(memory, memory_strategies):
        pipe.to(device.device)
    apply_memory_options(pipe, memory, device, memory_strategies)
    return pipe


def load_vae(entry: ModelEntry, device: DeviceChoice, allow_pickle: bool, base_vae: Any = None) -> Any:
    from diffusers import AutoencoderKL

    refuse_pickle(entry, allow_pickle)
    if entry.format == "diffusers":
        vae = AutoencoderKL.from_pretrained(entry.path, local_files_only=True, dtype=device.dtype)
    else:
        sibling = entry.path.with_name(entry.path.stem + ".config")
        if (sibling / "config.json").exists():
            config = sibling
        elif base_vae is not None:
            config = None
        else:
            config = CONFIGS_DIR / "sd15" / "vae"
        if config is None:
            # Use the loaded model's VAE config: the external VAE replaces weights of the same shape.
            import tempfile

            with tempfile.TemporaryDirectory() as folder:
                base_vae.save_config(folder)
                vae = AutoencoderKL.from_single_file(
                    str(entry.path), config=folder, local_files_only=True, dtype=device.dtype
                )
        else:
            vae = AutoencoderKL.from_single_file(
                str(entry.path), config=str(config), local_files_only=True, dtype=device.dtype
            )
    return vae.to(device.device)


@dataclass
class LoadedModel:
    """One checkpoint's modules, and the mode pipelines built on them (sharing the modules)."""

    entry: ModelEntry
    pipe: Any  # the text-to-image pipeline as loaded
    device: DeviceChoice
    base_scheduler_config: dict[str, Any] = field(default_factory=dict)
    _modes: dict[tuple[str, str | None], Any] = field(default_factory=dict)
    _vaes: dict[str, Any] = field(default_factory=dict)

    def pipeline(self, mode: str, vae: tuple[ModelEntry, Any] | None = None) -> Any:
        """The pipeline for `mode` (txt2img | img2img | inpaint), optionally with another VAE."""
        key = (mode, None if vae is None else str(vae[0].path))
        if key not in self._modes:
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

            base = self.pipe
            if vae is not None:
                base = type(self.pipe)(**{**self.pipe.components, "vae": vae[1]})
                base.set_progress_bar_config(disable=True)
            if mode == "txt2img":
                pipe = base
            elif mode == "img2img":
                pipe = AutoPipelineForImage2Image.from_pipe(base)
            else:
                pipe = AutoPipelineForInpainting.from_pipe(base)
            pipe.set_progress_bar_config(disable=True)
            self._modes[key] = pipe
        return self._modes[key]

    def vae(self, entry: ModelEntry, allow_pickle: bool) -> Any:
        key = str(entry.path)
        if key not in self._vaes:
            self._vaes[key] = load_vae(entry, self.device, allow_pickle, base_vae=self.pipe.vae)
        return self._vaes[key]


class ModelCache:
    """LRU cache of loaded models keyed by path; `capacity` models stay loaded."""

    def __init__(self, capacity: int = 2) -> None:
        self.capacity = max(1, capacity)
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self.loads = 0

    def __contains__(self, entry: ModelEntry) -> bool:
        return str(entry.path) in self._models

    def loaded_paths(self) -> list[str]:
        return list(self._models)

    def get(
        self,
        entry: ModelEntry,
        device: DeviceChoice,
        memory: dict[str, Any],
        allow_pickle: bool,
        memory_strategies: Mapping[str, MemoryStrategy] | None = None,
    ) -> LoadedModel:
        """The loaded model of `entry` (loading it, and evicting the oldest, on a miss)."""
        key = str(entry.path)
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        while len(self._models) >= self.capacity:
            self._evict()
        pipe = load_pipeline(entry, device, memory, allow_pickle, memory_strategies)
        self.loads += 1
        loaded = LoadedModel(entry, pipe, device, dict(pipe.scheduler.config))
        self._models[key] = loaded
        return loaded

    def _evict(self) -> None:
        _, old = self._models.popitem(last=False)
        del old
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

    def clear(self) -> None:
        while self._models:
            self._evict()
