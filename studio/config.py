"""Studio settings: defaults < config file < environment (ATELIER_*) < command line.

The config object is built once by the composition root (`studio.app`) and passed to the
services that need it; nothing reads settings from a global.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE_NAME = "config.json"
ENV_PREFIX = "ATELIER_"


class ConfigError(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True)
class StudioConfig:
    data_dir: Path = PROJECT_ROOT
    models_dir: Path | None = None  # default: data_dir / "models"
    outputs_dir: Path | None = None  # default: data_dir / "outputs"
    builtin_models_dir: Path | None = None  # default: the repository's models/ (shipped starter)
    port: int = 7860
    listen: bool = False
    device: str = "auto"
    dtype: str = "auto"  # auto | fp32 | fp16 | bf16 (studio.devices.dtype_policy)
    api_only: bool = False
    no_browser: bool = False
    api_auth: str | None = None  # "user:pass[,user2:pass2]": HTTP Basic on everything served
    ui_auth: str | None = None  # the UI's own users (A1111's --gradio-auth); default: api_auth's
    cors_origins: tuple[str, ...] = ()
    max_body_mb: int = 64
    default_model: str | None = None
    model_cache_size: int = 2
    allow_pickle: bool = False
    samples_save: bool = True
    clip_skip: int = 1
    memory: Mapping[str, Any] = field(default_factory=dict)  # strategy name -> options
    # auto: before each job, add the cheapest memory strategies that make it fit in the free
    # memory (studio.memory.policy); off: only the `memory` strategies above
    memory_policy: str = "auto"
    # The cost check before each generation (studio.memory.estimate): off | warn | refuse a job
    # estimated to take over max_job_seconds or to need more memory than the device has free.
    cost_check: str = "warn"
    max_job_seconds: float = 300.0
    # The hub server the Hub tab syncs from and downloads through, and the account's API key
    # (studio/hub_service.py hands both to the local hub; the key is never shown in full).
    hub_server: str | None = None
    hub_api_key: str | None = None
    # What runs the UNet and VAE decoder: auto (openvino on a CPU for full-size SD 1.x/2.x/SDXL
    # models when it is installed, else torch), torch, or openvino (studio.pipeline.backends)
    backend: str = "auto"
    # The OpenVINO UNet in int8 (NNCF post-training quantization, made once per export and kept
    # beside it): measured ~1.5x faster than OpenVINO's own precision (bf16 here) but far from
    # fp32 on the trained starter model, so off by default (docs/performance.md)
    openvino_int8: bool = False
    # torch.compile the denoiser's forward / channels-last weights (torch backend; both off by
    # default: measured not to pay on the CPU, docs/performance.md)
    torch_compile: bool = False
    channels_last: bool = False
    # Weight quantization per component (studio.pipeline.quantize): one of QUANTIZE_MODES below
    quantize_unet: str = "none"
    quantize_text_encoder: str = "none"
    # Run the engine in a worker process (studio.worker), so the UI and the API stay responsive
    # while a job runs and a crashed engine does not take the server down; False: on a thread of
    # the web process (`serve --in-process`). Read at start-up.
    worker_process: bool = True

    @property
    def auth_configured(self) -> bool:
        """Whether the studio asks for credentials (then on every route, UI and API)."""
        return bool(self.api_auth or self.ui_auth)

    @property
    def host(self) -> str:
        return "0.0.0.0" if self.listen else "127.0.0.1"

    @property
    def models_path(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def outputs_path(self) -> Path:
        return self.outputs_dir or self.data_dir / "outputs"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "atelier.db"

    @property
    def styles_file(self) -> Path:
        """A1111's styles.csv (name, prompt, negative_prompt), in the data dir."""
        return self.data_dir / "styles.csv"

    @property
    def wildcards_path(self) -> Path:
        """Wildcard files (`__name__` in a prompt reads `name.txt` here), in the data dir."""
        return self.data_dir / "wildcards"

    @property
    def config_file(self) -> Path:
        return self.data_dir / CONFIG_FILE_NAME

    @property
    def builtin_models_path(self) -> Path:
        """Models shipped with Atelier (the starter model), scanned besides `models_path`."""
        return self.builtin_models_dir or PROJECT_ROOT / "models"

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for key, value in data.items():
            if isinstance(value, Path):
                data[key] = str(value)
            elif isinstance(value, tuple):
                data[key] = list(value)
        return data


_FIELDS = {f.name: f for f in dataclasses.fields(StudioConfig)}


def _coerce(name: str, value: Any) -> Any:
    """Turn a value from a file, the environment or argparse into the field's type."""
    if value is None:
        return None
    kind = str(_FIELDS[name].type)
    try:
        if "Path" in kind:
            return Path(value).expanduser()
        if kind == "bool":
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off", ""):
                    return False
                raise ValueError(f"expected true or false, got {value!r}")
            return bool(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError(f"expected a number, got {value!r}")
            return float(value)
        if kind.startswith("tuple"):
            items = value.split(",") if isinstance(value, str) else value
            return tuple(str(item).strip() for item in items if str(item).strip())
        if kind.startswith("Mapping"):
            data = json.loads(value) if isinstance(value, str) else value
            if not isinstance(data, Mapping):
                raise ValueError("expected an object")
            return dict(data)
    except (TypeError, ValueError) as error:
        raise ConfigError(name, str(error)) from error
    return value


COST_CHECK_MODES = ("off", "warn", "refuse")
SERVER_URL = re.compile(r"^https?://[^\s/]+\S*$")
MASK = "••••"  # what a masked secret starts with (`masked`)


def masked(secret: str | None) -> str | None:
    """A secret as it may be shown back: its last four characters (of a long one) after a mask."""
    if not secret:
        return None
    return MASK + (secret[-4:] if len(secret) >= 12 else "")


BACKENDS = ("auto", "torch", "openvino")
QUANTIZE_MODES = ("none", "int8", "int4", "torchao-int8", "sdnq-int8", "sdnq-int4", "bnb-nf4", "bnb-int8")
DTYPE_CHOICES = ("auto", "fp32", "fp16", "bf16")
MEMORY_POLICIES = ("auto", "off")


def _check(name: str, value: Any) -> Any:
    """Settings with a range or a fixed set of values."""
    if name == "cost_check" and value not in COST_CHECK_MODES:
        raise ConfigError(name, f"expected one of {', '.join(COST_CHECK_MODES)}, got {value!r}")
    if name == "backend" and value not in BACKENDS:
        raise ConfigError(name, f"expected one of {', '.join(BACKENDS)}, got {value!r}")
    if name in ("quantize_unet", "quantize_text_encoder") and value not in QUANTIZE_MODES:
        raise ConfigError(name, f"expected one of {', '.join(QUANTIZE_MODES)}, got {value!r}")
    if name == "dtype" and value not in DTYPE_CHOICES:
        raise ConfigError(name, f"expected one of {', '.join(DTYPE_CHOICES)}, got {value!r}")
    if name == "memory_policy" and value not in MEMORY_POLICIES:
        raise ConfigError(name, f"expected one of {', '.join(MEMORY_POLICIES)}, got {value!r}")
    if name == "max_job_seconds" and not value > 0:
        raise ConfigError(name, f"expected a number of seconds > 0, got {value!r}")
    if name in ("hub_server", "hub_api_key") and value is not None:
        value = str(value).strip() or None
        if name == "hub_server" and value is not None and not SERVER_URL.match(value):
            raise ConfigError(name, f"expected an http:// or https:// URL, got {value!r}")
        if (
            name == "hub_api_key"
            and value is not None
            and (value.startswith(MASK) or any(c.isspace() for c in value))
        ):
            raise ConfigError(name, "expected the API key itself (no spaces, not the masked one)")
    return value


def _layer(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ConfigError(unknown[0], f"unknown setting in {source}; known: {', '.join(sorted(_FIELDS))}")
    return {name: _check(name, _coerce(name, value)) for name, value in values.items()}


def check_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` coerced to their fields' types and checked; ConfigError naming a bad one."""
    return _layer(values, "settings")


def _environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values = {}
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX) :].lower()
            if name in _FIELDS:
                values[name] = value
    return values


def load_config(
    cli: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> StudioConfig:
    """Build the config. `cli` holds only the options the user gave (None values are ignored)."""
    cli_values = _layer({k: v for k, v in (cli or {}).items() if v is not None}, "command line")
    env_values = _layer(_environment(os.environ if environ is None else environ), "environment")
    data_dir = cli_values.get("data_dir") or env_values.get("data_dir") or StudioConfig.data_dir
    file_values: dict[str, Any] = {}
    config_file = Path(data_dir) / CONFIG_FILE_NAME
    if config_file.exists():
        try:
            raw = json.loads(config_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ConfigError("config file", f"{config_file} is not valid JSON ({error})") from error
        file_values = _layer(raw, str(config_file))
    merged = {**file_values, **env_values, **cli_values, "data_dir": Path(data_dir)}
    return StudioConfig(**merged)


def save_settings(config: StudioConfig, changes: Mapping[str, Any]) -> StudioConfig:
    """Persist `changes` into the user's config file (atomically) and return the new config."""
    checked = _layer(changes, "settings")
    path = config.config_file
    current: dict[str, Any] = {}
    if path.exists():
        current = json.loads(path.read_text(encoding="utf-8"))
    current.update({k: str(v) if isinstance(v, Path) else v for k, v in changes.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, delete=False, suffix=".tmp", encoding="utf-8"
    ) as f:
        json.dump(current, f, indent=2, default=list)
        temp_name = f.name
    os.replace(temp_name, path)
    return dataclasses.replace(config, **checked)
