"""The response shapes of A1111's `/sdapi/v1` listing routes, field for field, for strict clients.

Clients generated from A1111's OpenAPI document, or written against its pydantic models
(webuiapi, the A1111 web page's scripts, SD.Next clients, `aaa1111`), refuse an answer with a
missing field, a null where A1111 always has a value, or an unknown key where A1111's shape
has fixed keys. These models give the routes their declared `response_model` (so FastAPI
checks every answer and the OpenAPI document shows A1111's shapes) and the builders fill them
from the studio:

- `/samplers`: `name`, `aliases` (the A1111 names and the old combined "+ schedule" names that
  mean the sampler) and `options`, the flags A1111 keeps there (`second_order`, `uses_ensd`,
  `brownian_noise`, `solver_type`) for the samplers they apply to;
- `/scripts`: the names of the scripts each tab shows;
- `/script-info`: one entry per script and tab (txt2img, then img2img), with `is_alwayson`,
  `is_img2img` and each argument's `label`, `value` (its default), `minimum`, `maximum`,
  `step` and `choices`;
- `/embeddings`: `loaded` and `skipped`, each embedding with an integer `shape` and `vectors`;
  a file that cannot be read (damaged, or a pickle without `--allow-pickle`) is left out, as
  A1111 leaves out what it cannot load;
- `/memory`: `ram` (`free`, `used`, `total` bytes of the machine) and `cuda` (A1111's
  `system`/`active`/`allocated`/`reserved`/`inactive`/`events` when a CUDA device is in use,
  `{"error": ...}` otherwise); nothing else at the top.
"""

from __future__ import annotations

import sys
from typing import Any

from pydantic import BaseModel, Field

from studio.engine_view import StudioEngine
from studio.scripts.manager import ScriptManager


class SamplerItem(BaseModel):
    name: str = Field(title="Name")
    aliases: list[str] = Field(title="Aliases")
    options: dict[str, Any] = Field(title="Options")


class ScriptArg(BaseModel):
    label: str | None = Field(default=None, title="Label")
    value: Any | None = Field(default=None, title="Value", description="the default")
    minimum: Any | None = Field(default=None, title="Minimum")
    maximum: Any | None = Field(default=None, title="Maximum")
    step: Any | None = Field(default=None, title="Step")
    choices: list[str] | None = Field(default=None, title="Choices")


class ScriptInfo(BaseModel):
    name: str | None = Field(default=None, title="Name")
    is_alwayson: bool | None = Field(default=None, title="IsAlwayson")
    is_img2img: bool | None = Field(default=None, title="IsImg2img")
    args: list[ScriptArg] = Field(title="Arguments")


class ScriptsList(BaseModel):
    txt2img: list | None = Field(default=None, title="Txt2img")
    img2img: list | None = Field(default=None, title="Img2img")


class EmbeddingItem(BaseModel):
    step: int | None = Field(title="Step")
    sd_checkpoint: str | None = Field(title="SD Checkpoint")
    sd_checkpoint_name: str | None = Field(title="SD Checkpoint Name")
    shape: int = Field(title="Shape", description="the width of each vector")
    vectors: int = Field(title="Vectors", description="how many vectors")


class EmbeddingsResponse(BaseModel):
    loaded: dict[str, EmbeddingItem] = Field(title="Loaded")
    skipped: dict[str, EmbeddingItem] = Field(title="Skipped")


class MemoryResponse(BaseModel):
    ram: dict = Field(title="RAM")
    cuda: dict = Field(title="CUDA")


# A1111 keeps these flags in a sampler's `options`; the studio's samplers that have the trait
_SECOND_ORDER = {"Heun", "DPM2", "DPM2 a", "DPM++ SDE", "DPM++ 2S a"}
_USES_ENSD = {"Euler a", "DPM2 a", "DPM++ 2S a"}  # ancestral: the noise seed delta applies
_BROWNIAN = {"DPM++ SDE", "DPM++ 2M SDE", "DPM++ 3M SDE", "DPM++ 2M SDE Heun"}


def sampler_options(name: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if name in _SECOND_ORDER:
        options["second_order"] = True
    if name in _USES_ENSD:
        options["uses_ensd"] = True
    if name in _BROWNIAN:
        options["brownian_noise"] = True
    if name == "DPM++ 2M SDE Heun":
        options["solver_type"] = "heun"
    return options


def sampler_items(engine: StudioEngine) -> list[dict[str, Any]]:
    return [
        {"name": name, "aliases": list(engine.sampler_aliases(name)), "options": sampler_options(name)}
        for name in engine.sampler_names()
    ]


def script_infos(scripts: ScriptManager) -> list[dict[str, Any]]:
    """A1111's `/script-info`: each script once per tab it shows in (txt2img first)."""
    infos: list[dict[str, Any]] = []
    for tab in ("txt2img", "img2img"):
        for name in scripts.names():
            script = scripts.get(name)
            if script is not None and tab not in script.tabs:
                continue
            kind = script.kind if script is not None else "alwayson"
            params = script.params if script is not None else ()
            infos.append(
                {
                    "name": name.lower(),
                    "is_alwayson": kind == "alwayson",
                    "is_img2img": tab == "img2img",
                    "args": [
                        {
                            "label": param.title,
                            "value": param.default,
                            "minimum": param.minimum,
                            "maximum": param.maximum,
                            "step": param.step,
                            "choices": list(param.choices) or None,
                        }
                        for param in params
                    ],
                }
            )
    return infos


def embedding_items(listing: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The engine's listing without the files it could not read (no shape to report)."""
    return {
        group: {
            name: info
            for name, info in listing.get(group, {}).items()
            if isinstance(info.get("shape"), int) and isinstance(info.get("vectors"), int)
        }
        for group in ("loaded", "skipped")
    }


def memory_report() -> dict[str, Any]:
    import psutil

    memory = psutil.virtual_memory()
    ram = {"free": memory.available, "used": memory.total - memory.available, "total": memory.total}
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return {"ram": ram, "cuda": {"error": "unavailable"}}
    try:
        free, total = torch.cuda.mem_get_info()
        stats = torch.cuda.memory_stats()
    except Exception as error:  # a device in a bad state: A1111 reports the error the same way
        return {"ram": ram, "cuda": {"error": str(error)}}

    def pair(name: str) -> dict[str, int]:
        return {
            "current": int(stats.get(f"{name}.all.current", 0)),
            "peak": int(stats.get(f"{name}.all.peak", 0)),
        }

    cuda = {
        "system": {"free": free, "used": total - free, "total": total},
        "active": pair("active_bytes"),
        "allocated": pair("allocated_bytes"),
        "reserved": pair("reserved_bytes"),
        "inactive": pair("inactive_split_bytes"),
        "events": {
            "retries": int(stats.get("num_alloc_retries", 0)),
            "oom": int(stats.get("num_ooms", 0)),
        },
    }
    return {"ram": ram, "cuda": cuda}
