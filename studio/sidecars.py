"""The files other tools keep beside a model, read as A1111, SD.Next and Civitai Helper read them.

For a model `Lora/detail.safetensors` (or a diffusers folder `Diffusers/tiny`, whose sidecars sit
beside the folder: `Diffusers/tiny.json`):

    detail.json           A1111's user metadata (the Extra Networks "edit" dialog writes it):
                          "activation text", "preferred weight", "negative text", "notes",
                          "description", "sd version"
    detail.civitai.info   Civitai Helper's copy of the Civitai model-version record:
                          "trainedWords", "baseModel", "name", "model": {"name", "type"}
    detail.safetensors.hub.json   what Atelier's own hub download wrote (the same Civitai
                          fields: "trainedWords", "baseModel", "modelName", "versionName"),
                          read when there is no .civitai.info
    detail.png            the preview; also detail.preview.png, and .jpg / .jpeg / .webp / .gif,
                          in A1111's order (plain name first, then `.preview`, per extension)

Nothing here needs torch. A sidecar that cannot be read is reported in `errors`, never fatal to a
listing.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREVIEW_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "gif")
MAX_SIDECAR_BYTES = 4 * 2**20
HUB_SIDECAR_SUFFIX = ".hub.json"  # hub.download.install.SIDECAR_SUFFIX (studio does not import hub)
DEFAULT_WEIGHT = 1.0


@dataclass(frozen=True)
class Sidecar:
    preview: Path | None = None
    activation_text: str = ""  # A1111 "activation text": words that call the model up
    trained_words: tuple[str, ...] = ()  # Civitai "trainedWords"
    preferred_weight: float | None = None  # A1111 "preferred weight" (0 there means "not set")
    negative_text: str = ""
    description: str = ""
    notes: str = ""
    sd_version: str = ""
    base_model: str = ""  # Civitai "baseModel" (e.g. "SD 1.5")
    civitai_name: str = ""  # "<model name> / <version name>" from .civitai.info
    errors: tuple[str, ...] = ()

    @property
    def trigger_words(self) -> str:
        """What to put in the prompt with the model: the activation text, else Civitai's trained
        words joined with ", " (what Civitai Helper's "add trigger words" adds)."""
        return self.activation_text.strip() or ", ".join(
            word.strip() for word in self.trained_words if word.strip()
        )

    @property
    def weight(self) -> float:
        """The weight a tag gets when inserted: the preferred weight when set, else 1."""
        return self.preferred_weight if self.preferred_weight else DEFAULT_WEIGHT

    def to_json(self) -> dict[str, Any]:
        return {
            "activation_text": self.activation_text,
            "trained_words": list(self.trained_words),
            "trigger_words": self.trigger_words,
            "preferred_weight": self.preferred_weight,
            "weight": self.weight,
            "negative_text": self.negative_text,
            "description": self.description,
            "notes": self.notes,
            "sd_version": self.sd_version,
            "base_model": self.base_model,
            "civitai_name": self.civitai_name,
            "has_preview": self.preview is not None,
            "errors": list(self.errors),
        }


def sidecar_base(model_path: Path) -> Path:
    """The path sidecar names start from: the file without its extension, or the folder itself."""
    return model_path if model_path.is_dir() else model_path.with_suffix("")


def find_preview(model_path: Path) -> Path | None:
    base = str(sidecar_base(model_path))
    for extension in PREVIEW_EXTENSIONS:
        for candidate in (Path(f"{base}.{extension}"), Path(f"{base}.preview.{extension}")):
            if candidate.is_file():
                return candidate
    return None


def _read_json(path: Path, errors: list[str]) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        if path.stat().st_size > MAX_SIDECAR_BYTES:
            raise ValueError(f"larger than {MAX_SIDECAR_BYTES // 2**20} MB")
        data = json.loads(path.read_text(encoding="utf-8-sig"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        errors.append(f"{path.name}: {error}")
        return {}
    return data


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _plain(value: Any) -> str:
    """Civitai's HTML description as plain text."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", _text(value))).split())


def _weight(value: Any, name: str, errors: list[str]) -> float | None:
    if value in (None, ""):
        return None
    try:
        weight = float(value)
    except (TypeError, ValueError):
        errors.append(f"{name}: preferred weight {value!r} is not a number")
        return None
    return weight or None


def read_sidecars(model_path: Path) -> Sidecar:
    """Everything the sidecars of `model_path` say (an empty Sidecar when there are none)."""
    base = str(sidecar_base(model_path))
    errors: list[str] = []
    user = _read_json(Path(f"{base}.json"), errors)
    civitai = _read_json(Path(f"{base}.civitai.info"), errors)
    if not civitai and model_path.is_file():
        hub = _read_json(Path(f"{model_path}{HUB_SIDECAR_SUFFIX}"), errors)
        civitai = {
            "trainedWords": hub.get("trainedWords"),
            "baseModel": hub.get("baseModel"),
            "description": hub.get("description"),
            "name": hub.get("versionName"),
            "model": {"name": hub.get("modelName")},
        }
    words = civitai.get("trainedWords")
    trained = (
        tuple(word.strip() for word in words if isinstance(word, str) and word.strip())
        if isinstance(words, list)
        else ()
    )
    model = civitai.get("model") if isinstance(civitai.get("model"), dict) else {}
    civitai_name = " / ".join(part for part in (_text(model.get("name")), _text(civitai.get("name"))) if part)
    return Sidecar(
        preview=find_preview(model_path),
        activation_text=_text(user.get("activation text")),
        trained_words=trained,
        preferred_weight=_weight(user.get("preferred weight"), f"{Path(base).name}.json", errors),
        negative_text=_text(user.get("negative text")),
        description=_text(user.get("description")) or _plain(civitai.get("description")),
        notes=_text(user.get("notes")),
        sd_version=_text(user.get("sd version")),
        base_model=_text(civitai.get("baseModel")),
        civitai_name=civitai_name,
        errors=tuple(errors),
    )
