"""A1111-style settings ("options") that API clients read and write: studio settings and stored keys.

A service of its own, with no HTTP in it: `/sdapi/v1/options` (`studio.http.a1111`) reads and
writes it, and A1111-style requests take their default model, VAE and clip skip from it.

Only plain JSON values are stored, and nothing is stored unless every change is good: one 422
names every bad key. The model and VAE are checked against the model registry before they are
saved (`update(..., models=...)`): an unknown name, a missing or damaged file, or a pickle file
while `allow_pickle` is off is refused with the reason, so a bad default never reaches a job.
The ones Atelier acts on:
- `sd_model_checkpoint`: the model used when a request names none (a title, name or hash);
- `sd_vae`: the VAE used when a request names none ("Automatic" = the model's own);
- `CLIP_stop_at_last_layers`: the clip skip used by A1111-style requests;
- `samples_save`: whether generated images are saved into outputs (and History), UI and API;
- `samples_format`: png, jpg or webp, the format A1111-style requests save in (jpg and webp
  keep the infotext in the EXIF UserComment);
- `face_restoration_model`, `code_former_weight`: the face restorer (CodeFormer or GFPGAN)
  and CodeFormer's weight that A1111-style requests with `restore_faces` use;
- `infotext_styles`: what PNG Info does with styles found in an infotext's prompt (A1111's
  "Ignore", "Apply", "Discard", "Apply if any").
Any other key a client sets is stored and returned as given (A1111 clients round-trip them).

One store of truth: the options that are studio settings (`CONFIG_BACKED`: the default model,
clip skip, saving, the cost check) are the live `StudioConfig`'s fields, kept in `config.json`.
The Settings tab and `POST /sdapi/v1/options` both save them through `Options.save_settings`,
`GET /sdapi/v1/options` and the Settings form both read them from `Options.config`, and the
engine is handed each new config (`subscribe`), so a save on either side is what the other
shows and what the next job uses. The other keys live in the `api_options` table. Values a
previous release stored in that table for a config-backed key are moved into `config.json` when
the file does not set that field (else the file's value stays) and removed from the table.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlitedb import write
from studio.config import ConfigError, StudioConfig, check_settings, save_settings
from studio.database import open_database
from studio.model_checks import check_model_file
from studio.prompts.styles import INFOTEXT_STYLE_MODES
from studio.request import SAMPLES_FORMATS, Problems, RequestError, text_problem

if TYPE_CHECKING:
    from studio.engine_view import ModelCatalog

log = logging.getLogger(__name__)

MODEL = "sd_model_checkpoint"
VAE = "sd_vae"
CLIP_SKIP = "CLIP_stop_at_last_layers"
SAMPLES_SAVE = "samples_save"
SAMPLES_FORMAT = "samples_format"  # the saved files' format for A1111-style requests
# what `restore_faces` uses (A1111's options): CodeFormer or GFPGAN, and CodeFormer's weight
FACE_RESTORATION_MODEL = "face_restoration_model"
CODE_FORMER_WEIGHT = "code_former_weight"
# A1111's "Infotext: handle styles": what reading an infotext does with the styles in its prompt
INFOTEXT_STYLES = "infotext_styles"
MAX_OPTIONS = 500
# option key -> StudioConfig field: the options that are studio settings (one value each)
CONFIG_BACKED: Mapping[str, str] = {
    MODEL: "default_model",
    CLIP_SKIP: "clip_skip",
    SAMPLES_SAVE: "samples_save",
    "cost_check": "cost_check",  # the cost check before each generation (studio.memory.estimate)
    "max_job_seconds": "max_job_seconds",
    # what runs the UNet and VAE decoder, and the weight quantization (studio.pipeline.backends)
    "backend": "backend",
    "openvino_int8": "openvino_int8",
    "torch_compile": "torch_compile",
    "channels_last": "channels_last",
    "quantize_unet": "quantize_unet",
    "quantize_text_encoder": "quantize_text_encoder",
    # the memory policy and the `memory` strategies (per job); the device and dtype (at the
    # next start; docs/performance.md)
    "memory_policy": "memory_policy",
    "memory": "memory",
    "device": "device",
    "dtype": "dtype",
}


AUTOMATIC_VAE = ("", "Automatic", "automatic")
NO_VAE = ("None", "none")


def resolve_model_option(
    catalog: ModelCatalog, kind: str, value: Any, field_name: str, *, allow_pickle: bool
) -> str | None:
    """The registry title of the checkpoint or VAE `value` names, checked to be usable (not
    missing, not damaged, not a refused pickle); None for no choice ("" / None; for a VAE also
    "Automatic"), "None" for a VAE switched off. RequestError naming `field_name` otherwise."""
    if value is None or value == "" or (kind == "vae" and value in AUTOMATIC_VAE):
        return None
    if not isinstance(value, str):
        raise RequestError(field_name, f"expected a string, got {value!r}")
    if kind == "vae" and value in NO_VAE:
        return "None"
    problem = text_problem(value)
    if problem is not None:
        raise RequestError(field_name, problem)
    entry = catalog.find(kind, value, field_name)
    check_model_file(entry, kind=kind, allow_pickle=allow_pickle, field_name=field_name)
    return entry.title


def _check(key: str, value: Any) -> Any:
    problem = text_problem(key)
    if problem is not None:
        raise RequestError("options", f"bad option name {key!r}: {problem}")
    if key == CLIP_SKIP:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= int(value) <= 12:
            raise RequestError(key, f"expected an integer 1..12, got {value!r}")
        return int(value)
    if key == SAMPLES_SAVE and not isinstance(value, bool):
        raise RequestError(key, f"expected true or false, got {value!r}")
    if key == INFOTEXT_STYLES and value not in INFOTEXT_STYLE_MODES:
        raise RequestError(key, f"expected one of {', '.join(INFOTEXT_STYLE_MODES)}, got {value!r}")
    if key == SAMPLES_FORMAT and (not isinstance(value, str) or value.lower() not in SAMPLES_FORMATS):
        raise RequestError(key, f"expected one of {', '.join(SAMPLES_FORMATS)}, got {value!r}")
    if key in (MODEL, VAE) and not isinstance(value, str):
        raise RequestError(key, f"expected a string, got {value!r}")
    try:
        json.dumps(value)
    except (TypeError, ValueError) as error:
        raise RequestError(key, f"not a JSON value ({error})") from error
    return value


class Options:
    def __init__(self, db_path: Path, config: StudioConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._listeners: list[Callable[[StudioConfig], None]] = []
        self._db = open_database(db_path)
        self._adopt_stored_settings()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- the studio settings ------------------------------------------------------------------
    @property
    def config(self) -> StudioConfig:
        """The settings in effect (the last save's, from the Settings tab or the options API)."""
        return self._config

    def subscribe(self, listener: Callable[[StudioConfig], None]) -> None:
        """`listener(new_config)` after every save (the engine takes each new config)."""
        self._listeners.append(listener)

    def save_settings(self, changes: Mapping[str, Any]) -> StudioConfig:
        """Save config fields into `config.json` and put them in effect; raises ConfigError
        naming a bad field (nothing is saved then)."""
        with self._lock:
            self._config = save_settings(self._config, changes)
            config = self._config
        if changes:
            for listener in list(self._listeners):
                listener(config)
        return config

    def _adopt_stored_settings(self) -> None:
        keys = tuple(CONFIG_BACKED)
        marks = ", ".join("?" for _ in keys)
        with self._lock:
            rows = self._db.execute(
                f"SELECT key, value FROM api_options WHERE key IN ({marks})", keys
            ).fetchall()
        if not rows:
            return
        in_file: set[str] = set()
        if self._config.config_file.exists():
            try:
                in_file = set(json.loads(self._config.config_file.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                in_file = set()
        adopted = {
            CONFIG_BACKED[key]: json.loads(value) for key, value in rows if CONFIG_BACKED[key] not in in_file
        }
        try:
            self.save_settings(adopted)
        except ConfigError as error:
            log.warning("stored option %s not adopted: %s", error.field, error)
        with self._lock, write(self._db):
            self._db.execute(f"DELETE FROM api_options WHERE key IN ({marks})", keys)

    # -- the options ----------------------------------------------------------------------------
    def defaults(self) -> dict[str, Any]:
        return {
            VAE: "Automatic",
            INFOTEXT_STYLES: "Apply if any",
            "samples_format": "png",
            "outdir_samples": str(self._config.outputs_path),
            FACE_RESTORATION_MODEL: "CodeFormer",
            CODE_FORMER_WEIGHT: 0.5,
        }

    def settings(self) -> dict[str, Any]:
        """The config-backed options' values in effect."""
        values = {key: getattr(self._config, field) for key, field in CONFIG_BACKED.items()}
        values[MODEL] = values[MODEL] or ""
        return values

    def stored(self) -> dict[str, Any]:
        with self._lock:
            rows = self._db.execute("SELECT key, value FROM api_options").fetchall()
        return {key: json.loads(value) for key, value in rows if key not in CONFIG_BACKED}

    def all(self) -> dict[str, Any]:
        return {**self.defaults(), **self.stored(), **self.settings()}

    def get(self, key: str) -> Any:
        return self.all().get(key)

    def check(
        self,
        changes: Mapping[str, Any],
        *,
        models: ModelCatalog | None = None,
        allow_pickle: bool = False,
    ) -> dict[str, Any]:
        """`changes` checked (RequestError naming every bad key), nothing stored. With `models`,
        the model and VAE are resolved to their titles and checked usable
        (`resolve_model_option`)."""
        problems = Problems()
        checked: dict[str, Any] = {}
        for key, value in changes.items():
            with problems.check():
                checked[str(key)] = _check(str(key), value)
                if key in CONFIG_BACKED and key != MODEL:  # the model is resolved below
                    field_name = CONFIG_BACKED[key]
                    try:
                        check_settings({field_name: checked[key]})
                    except ConfigError as error:
                        raise RequestError(key, str(error).removeprefix(f"{field_name}: ")) from error
        if models is not None:
            for key, kind in ((MODEL, "checkpoint"), (VAE, "vae")):
                if key in checked:
                    with problems.check():
                        title = resolve_model_option(
                            models, kind, checked[key], key, allow_pickle=allow_pickle
                        )
                        checked[key] = "Automatic" if kind == "vae" and title is None else (title or "")
        problems.raise_any()
        return checked

    def update(
        self,
        changes: Mapping[str, Any],
        *,
        models: ModelCatalog | None = None,
        allow_pickle: bool = False,
    ) -> dict[str, Any]:
        """Check every change, then save the config-backed ones as settings (`save_settings`:
        config.json, in effect at once) and store the others; raises RequestError naming every
        bad key (nothing is saved then). With `models`, the model and VAE are resolved to their
        titles and checked usable (`resolve_model_option`) before anything is saved."""
        checked = self.check(changes, models=models, allow_pickle=allow_pickle)
        settings = {CONFIG_BACKED[key]: checked.pop(key) for key in list(checked) if key in CONFIG_BACKED}
        if MODEL in changes:
            settings["default_model"] = settings["default_model"] or None
        with self._lock:
            count = self._db.execute("SELECT COUNT(*) FROM api_options").fetchone()[0]
        if count + len(checked) > MAX_OPTIONS:
            raise RequestError("options", f"at most {MAX_OPTIONS} options can be stored")
        if settings:
            try:
                self.save_settings(settings)
            except ConfigError as error:
                key = next((k for k, f in CONFIG_BACKED.items() if f == error.field), error.field)
                raise RequestError(key, str(error).removeprefix(f"{error.field}: ")) from error
        with self._lock, write(self._db):
            for key, value in checked.items():
                self._db.execute(
                    "INSERT OR REPLACE INTO api_options (key, value) VALUES (?, ?)",
                    (key, json.dumps(value)),
                )
        return self.all()
