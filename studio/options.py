"""A1111-style settings ("options") that API clients read and write, kept in the studio database.

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
- `samples_save`: whether the UI saves what it makes into outputs;
- `samples_format`: png, jpg or webp, the format A1111-style requests save in (jpg and webp
  keep the infotext in the EXIF UserComment);
- `infotext_styles`: what PNG Info does with styles found in an infotext's prompt (A1111's
  "Ignore", "Apply", "Discard", "Apply if any").
Any other key a client sets is stored and returned as given (A1111 clients round-trip them).

`CONFIG_OPTIONS` are studio settings (`StudioConfig` fields), not stored here: the options API
reads them from the live config and saves them into `config.json` as the Settings tab does
(`save_config_options`), so there is one value of each.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
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

MODEL = "sd_model_checkpoint"
VAE = "sd_vae"
CLIP_SKIP = "CLIP_stop_at_last_layers"
SAMPLES_SAVE = "samples_save"
SAMPLES_FORMAT = "samples_format"  # the saved files' format for A1111-style requests
# A1111's "Infotext: handle styles": what reading an infotext does with the styles in its prompt
INFOTEXT_STYLES = "infotext_styles"
MAX_OPTIONS = 500
# the cost check before each generation (studio.memory.estimate), the memory policy and the
# `memory` strategies (per job), the device and dtype (at the next start; docs/performance.md)
CONFIG_OPTIONS = ("cost_check", "max_job_seconds", "memory_policy", "memory", "device", "dtype")


def config_options(config: StudioConfig) -> dict[str, Any]:
    """The config-backed options' current values."""
    return {name: getattr(config, name) for name in CONFIG_OPTIONS}


def save_config_options(config: StudioConfig, changes: Mapping[str, Any]) -> StudioConfig:
    """Check `changes` (config-backed options only), save them into the config file and return
    the new config; raises RequestError naming a bad key (nothing is saved then)."""
    problems = Problems()
    for name, value in changes.items():  # each one alone first: the answer names every bad key
        with problems.check():
            try:
                check_settings({name: value})
            except ConfigError as error:
                raise RequestError(error.field, str(error).removeprefix(f"{error.field}: ")) from error
    problems.raise_any()
    return save_settings(config, changes)


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
        self.config = config
        self._lock = threading.Lock()
        self._db = open_database(db_path)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def defaults(self) -> dict[str, Any]:
        return {
            MODEL: self.config.default_model,
            VAE: "Automatic",
            CLIP_SKIP: self.config.clip_skip,
            SAMPLES_SAVE: self.config.samples_save,
            INFOTEXT_STYLES: "Apply if any",
            "samples_format": "png",
            "outdir_samples": str(self.config.outputs_path),
        }

    def stored(self) -> dict[str, Any]:
        with self._lock:
            rows = self._db.execute("SELECT key, value FROM api_options").fetchall()
        return {key: json.loads(value) for key, value in rows}

    def all(self) -> dict[str, Any]:
        return {**self.defaults(), **self.stored()}

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
        """Check and store `changes` in one transaction; raises RequestError naming every bad key
        (nothing is stored then). With `models`, the model and VAE are resolved to their titles
        and checked usable (`resolve_model_option`) before anything is saved."""
        checked = self.check(changes, models=models, allow_pickle=allow_pickle)
        with self._lock:
            count = self._db.execute("SELECT COUNT(*) FROM api_options").fetchone()[0]
            if count + len(checked) > MAX_OPTIONS:
                raise RequestError("options", f"at most {MAX_OPTIONS} options can be stored")
            with write(self._db):
                for key, value in checked.items():
                    self._db.execute(
                        "INSERT OR REPLACE INTO api_options (key, value) VALUES (?, ?)",
                        (key, json.dumps(value)),
                    )
        return self.all()
