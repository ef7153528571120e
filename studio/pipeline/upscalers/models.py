"""Model upscalers from A1111's folders, loaded with spandrel and run in tiles.

Files are found under `models_path/<folder>` for the folders A1111 uses (ESRGAN, RealESRGAN,
SwinIR, DAT, ...). Safetensors are read always; pickle files (.pth/.pt/.ckpt) only with
`allow_pickle`. A model's name is its file stem; loaded networks are kept (one per file).
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.request import RequestError

UPSCALER_FOLDERS = ("ESRGAN", "RealESRGAN", "SwinIR", "DAT", "HAT", "ScuNET", "Upscalers")
SAFE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")


@dataclass(frozen=True)
class UpscalerFile:
    name: str
    path: Path
    folder: str


def import_spandrel() -> Any:
    """spandrel, imported even where torchvision is absent: only its LaMa and RestoreFormer
    architectures use torchvision (at import), so while importing, a placeholder module answers
    those two names with functions that raise; it is removed from sys.modules afterwards."""
    if "spandrel" in sys.modules:
        return sys.modules["spandrel"]
    try:
        importlib.import_module("torchvision.transforms.functional")
        return importlib.import_module("spandrel")
    except ImportError:
        pass

    def missing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("torchvision is not installed; this architecture needs it")

    placeholder = types.ModuleType("torchvision.transforms.functional")
    placeholder.normalize = missing  # type: ignore[attr-defined]
    placeholder.rotate = missing  # type: ignore[attr-defined]
    placeholder.InterpolationMode = type("InterpolationMode", (), {})  # type: ignore[attr-defined]
    names = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")
    for name in names:
        sys.modules[name] = types.ModuleType(name) if name != names[-1] else placeholder
    try:
        return importlib.import_module("spandrel")
    finally:
        for name in names:
            sys.modules.pop(name, None)


def scan_upscaler_files(models_path: Path, allow_pickle: bool) -> list[UpscalerFile]:
    suffixes = SAFE_SUFFIXES + (PICKLE_SUFFIXES if allow_pickle else ())
    found: list[UpscalerFile] = []
    seen: set[str] = set()
    for folder in UPSCALER_FOLDERS:
        root = models_path / folder
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() in suffixes and path.is_file() and path.stem not in seen:
                seen.add(path.stem)
                found.append(UpscalerFile(path.stem, path, folder))
    return found


def load_state_dict(path: Path, allow_pickle: bool) -> dict[str, Any]:
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if not allow_pickle:
        raise RequestError("upscaler", f"{path.name} is a pickle file; start with --allow-pickle to load it")
    import torch

    data = torch.load(str(path), map_location="cpu", weights_only=True)
    for key in ("params_ema", "params", "state_dict"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            return data[key]
    return data


class LoadedUpscaler:
    """A spandrel image model: `upscale(image, width, height, tile, overlap)` on PIL images."""

    def __init__(self, descriptor: Any) -> None:
        self.descriptor = descriptor
        self.scale: int = int(descriptor.scale)

    def run(self, array: Any, tile: int, overlap: int, output: Any = None) -> Any:
        """The network on a uint8 (H, W, 3) array, in tiles: a uint8 (H*scale, W*scale, 3)
        array (`output` when given, e.g. a `numpy.memmap`); see `tiles.run_tiled`."""
        import torch

        from studio.pipeline.upscalers.tiles import run_tiled

        model = self.descriptor.model.eval()

        def network(piece: Any) -> Any:
            return model(piece).clamp(0, 1)

        with torch.no_grad():
            return run_tiled(network, array, self.scale, tile, overlap, output)

    def upscale(self, image: Any, width: int, height: int, tile: int = 256, overlap: int = 32) -> Any:
        """The image through the network (repeatedly while it is still smaller than asked, as
        A1111 does), then resized to exactly (width, height) with Lanczos."""
        import numpy as np
        from PIL import Image

        current = image.convert("RGB")
        for _ in range(3):
            if current.width >= width and current.height >= height:
                break
            out = self.run(np.asarray(current), tile, overlap)
            current = Image.fromarray(out)
            del out
        if current.size != (width, height):
            current = current.resize((width, height), Image.Resampling.LANCZOS)
        return current


class ModelUpscalers:
    """The model upscaler files of one studio, loaded on first use and kept."""

    def __init__(self, models_path: Path, allow_pickle: Callable[[], bool]) -> None:
        self.models_path = models_path
        self._allow_pickle = allow_pickle
        self._loaded: dict[Path, LoadedUpscaler] = {}

    def files(self) -> list[UpscalerFile]:
        return scan_upscaler_files(self.models_path, self._allow_pickle())

    def find(self, name: str) -> UpscalerFile | None:
        return next((item for item in self.files() if item.name == name), None)

    def load(self, item: UpscalerFile) -> LoadedUpscaler:
        if item.path not in self._loaded:
            spandrel = import_spandrel()
            state = load_state_dict(item.path, self._allow_pickle())
            try:
                descriptor = spandrel.ModelLoader().load_from_state_dict(state)
            except Exception as error:  # spandrel raises its own error types per architecture
                raise RequestError(
                    "upscaler", f"{item.path.name}: not a known upscaler architecture ({error})"
                ) from error
            if not isinstance(descriptor, spandrel.ImageModelDescriptor):
                raise RequestError("upscaler", f"{item.path.name} is not an upscaler ({descriptor.purpose})")
            self._loaded[item.path] = LoadedUpscaler(descriptor)
        return self._loaded[item.path]

    def unload(self) -> None:
        self._loaded.clear()
