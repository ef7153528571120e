"""Load pipelines from registry entries, keep the last few in an LRU cache, share components.

Diffusers folders load with `from_pretrained(local_files_only=True)`; single `.safetensors`
files part by part through diffusers' single-file loaders with local configs
(`studio.pipeline.families.assemble`), so no hub call is ever made: the architecture is
recognised from the keys, a config folder shipped in `studio/pipeline/configs/` is used (a
`<file stem>.config/` folder next to the file overrides it), and parts the file lacks come from
the text encoder and VAE folders. txt2img, img2img and inpaint pipelines are built from one set
of modules (`from_pipe`, with the family's class for each mode), so switching mode loads nothing.
"""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.devices.base import DeviceChoice
from studio.memory import MemoryStrategy, apply_memory_options, moves_model_itself
from studio.pipeline.families import family_of, identify
from studio.pipeline.families.sources import CONFIGS_DIR, ModelLoadError, config_folders
from studio.pipeline.families.spec import ARCHITECTURES, Architecture, Family
from studio.pipeline.model_registry import ModelEntry, refuse_pickle
from studio.pipeline.vae_guard import guard_vae

__all__ = [
    "CONFIGS_DIR",
    "LoadedModel",
    "ModelCache",
    "ModelLoadError",
    "config_folder_for",
    "detect_architecture",
]


def detect_architecture(path: Path) -> str:
    """The architecture of single file `path` (a `spec.ARCHITECTURES` name, or "unknown")."""
    return identify(path, "safetensors" if path.suffix.lower() == ".safetensors" else "pickle")


def config_folder_for(path: Path) -> Path:
    """The local config folder a single file loads with: its `<stem>.config/` folder, else the
    one shipped for its architecture (ModelLoadError when there is neither)."""
    folders = config_folders(path, detect_architecture(path))
    root = (
        folders.sibling
        if folders.sibling is not None and (folders.sibling / "model_index.json").exists()
        else folders.shipped
    )
    assert root is not None
    return root


def _pipeline_class(name: str) -> Any:
    import diffusers

    return getattr(diffusers, name)


def load_pipeline(
    entry: ModelEntry,
    device: DeviceChoice,
    memory: dict[str, Any],
    allow_pickle: bool,
    memory_strategies: Mapping[str, MemoryStrategy] | None = None,
    companion_roots: Sequence[Path] = (),
) -> Any:
    """The pipeline of `entry` on `device`, with the `memory` options applied from
    `memory_strategies` (the studio's registry; the built-ins when None). A single file's
    missing parts are looked for in the text encoder and VAE folders of `companion_roots`."""
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
    elif entry.format == "safetensors":
        from studio.pipeline.families.assemble import load_single_file

        pipe, _ = load_single_file(entry.path, dtype, companion_roots)
    else:  # a pickle file (allowed): diffusers reads it whole, with a local config folder
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
    guard_vae(getattr(pipe, "vae", None), device.decode_dtype)  # the dtype policy's VAE side
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
    return guard_vae(vae.to(device.device), device.decode_dtype)


@dataclass
class LoadedModel:
    """One checkpoint's modules, and the mode pipelines built on them (sharing the modules)."""

    entry: ModelEntry
    pipe: Any  # the pipeline as loaded (text-to-image; image-to-image for an SDXL refiner)
    device: DeviceChoice
    base_scheduler_config: dict[str, Any] = field(default_factory=dict)
    architecture: Architecture = field(default_factory=lambda: ARCHITECTURES["sd15"])
    _modes: dict[tuple[str, str | None], Any] = field(default_factory=dict)
    _vaes: dict[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> Family:
        family = family_of(self.architecture.name)
        assert family is not None
        return family

    def pipeline(self, mode: str, vae: tuple[ModelEntry, Any] | None = None) -> Any:
        """The pipeline for `mode` (txt2img | img2img | inpaint), optionally with another VAE."""
        key = (mode, None if vae is None else str(vae[0].path))
        if key not in self._modes:
            import diffusers

            base = self.pipe
            if vae is not None:
                base = type(self.pipe)(**{**self.pipe.components, "vae": vae[1]})
                base.set_progress_bar_config(disable=True)
            name = self.family.pipelines.get(mode)
            if name is None:
                raise ModelLoadError(f"{self.entry.name} ({self.architecture.label}) has no {mode} mode")
            pipe = base if type(base).__name__ == name else getattr(diffusers, name).from_pipe(base)
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

    def __init__(self, capacity: int = 2, companion_roots: Sequence[Path] = ()) -> None:
        """`companion_roots`: the models folders whose text encoder and VAE folders fill the
        parts a single file lacks."""
        self.capacity = max(1, capacity)
        self.companion_roots = list(companion_roots)
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
        name = identify(entry.path, entry.format)
        architecture = ARCHITECTURES.get(name)
        if architecture is None:  # say what it is before reading any weight
            config_folders(entry.path, name)
            raise ModelLoadError(f"{entry.name}: unknown architecture {name!r}")
        pipe = load_pipeline(entry, device, memory, allow_pickle, memory_strategies, self.companion_roots)
        self.loads += 1
        loaded = LoadedModel(entry, pipe, device, dict(pipe.scheduler.config), architecture)
        self._models[key] = loaded
        return loaded

    def drop(self, entry: ModelEntry) -> None:
        """Unload `entry` (the next `get` loads it from its file again)."""
        old = self._models.pop(str(entry.path), None)
        if old is not None:
            del old
            gc.collect()

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
