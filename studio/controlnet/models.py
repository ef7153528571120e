"""The ControlNet models in `models/ControlNet` (the sd-webui-controlnet folder), by title.

A model is a single `.safetensors` file (original layout, as the extension's users download them,
or diffusers layout with a `<stem>.json` config beside it) or a diffusers folder (`config.json`
and weights). Titles are `name [first 8 hex digits of the file's SHA-256]` like the extension's.
Pickle files (`.pth`, `.ckpt`) are listed only with the studio's pickle allowance.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from studio.request import RequestError

FOLDER = "ControlNet"
ANNOTATORS = "annotators"
SAFE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".pth", ".ckpt", ".bin")


@dataclass(frozen=True)
class ControlNetFile:
    name: str
    path: Path
    sha256: str

    @property
    def title(self) -> str:
        return f"{self.name} [{self.sha256[:8]}]"

    @property
    def is_folder(self) -> bool:
        return self.path.is_dir()


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _has_weights(folder: Path) -> bool:
    return any(p.suffix in (".safetensors", ".bin") for p in folder.iterdir())


def scan(models_path: Path, allow_pickle: bool = False) -> list[ControlNetFile]:
    """Every ControlNet model under `models_path/ControlNet`, sorted by name."""
    folder = models_path / FOLDER
    if not folder.is_dir():
        return []
    suffixes = SAFE_SUFFIXES + (PICKLE_SUFFIXES if allow_pickle else ())
    found = []
    for path in sorted(folder.iterdir()):
        if path.name == ANNOTATORS:
            continue
        if path.is_dir() and path.suffix == ".config":
            continue  # the config folder of a single file beside it
        if path.is_dir() and (path / "config.json").is_file() and _has_weights(path):
            found.append(ControlNetFile(path.name, path, _digest(path)))
        elif path.is_file() and path.suffix.lower() in suffixes:
            found.append(ControlNetFile(path.stem, path, _digest(path)))
    return found


def find(models: list[ControlNetFile], wanted: str, field_name: str = "model") -> ControlNetFile:
    """A model by title, name, or hash prefix; RequestError listing the installed titles."""
    text = wanted.strip()
    bare = text.rsplit(" [", 1)[0] if text.endswith("]") else text
    for model in models:
        if text == model.title or bare == model.name or (len(text) >= 8 and model.sha256.startswith(text)):
            return model
    installed = ", ".join(m.title for m in models) or f"none (put models in models/{FOLDER})"
    raise RequestError(field_name, f"no ControlNet model {wanted!r}; installed: {installed}")
