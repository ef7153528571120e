"""Extras and checkpoint unload/reload as job kinds, so they wait their turn in the persistent
queue behind generations, report progress and can be cancelled like any job.

`extras` payload (what `POST /studio/v1/jobs` with kind "extras" takes, and what the Extras
routes and the Extras tab submit):

    {"images": [{"data": "<base64>", "name": "a.png"}, ...], "resize_mode": 0, "upscaling_resize": 2,
     "upscaler_1": "Lanczos", ... every `ExtrasSettings` field, optional}

`unload-checkpoint` and `reload-checkpoint` take an empty payload. Torch-free: the runners call
the engine through its view (`studio.engine_view.StudioEngine`).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from studio.extras import ExtrasSettings
from studio.progress import GenerationControl, StepInfo
from studio.request import Problems, RequestError

EXTRAS = "extras"
UNLOAD_CHECKPOINT = "unload-checkpoint"
RELOAD_CHECKPOINT = "reload-checkpoint"
MAX_IMAGES = 100

_SETTING_TYPES = {item.name: item.type for item in dataclasses.fields(ExtrasSettings)}


@dataclass(frozen=True)
class ExtrasJob:
    """Images (name, encoded bytes) and the Extras settings applied to each."""

    images: tuple[tuple[str, bytes], ...]
    settings: ExtrasSettings

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExtrasJob:
        """RequestError (RequestErrors) naming every bad field; values are range-checked too."""
        problems = Problems()
        if not isinstance(data, Mapping):
            raise RequestError("payload", "expected a JSON object")
        unknown = sorted(set(data) - set(_SETTING_TYPES) - {"images"})
        for name in unknown:
            problems.add(RequestError(name, "unknown Extras field"))
        images: list[tuple[str, bytes]] = []
        with problems.check():
            images = _decode_images(data.get("images"))
        values: dict[str, Any] = {}
        for name, kind in _SETTING_TYPES.items():
            if name in data:
                with problems.check():
                    values[name] = _setting_value(name, kind, data[name])
        settings = ExtrasSettings()
        if not problems:
            settings = ExtrasSettings(**values)
            with problems.check():
                settings.check()
        problems.raise_any()
        return cls(tuple(images), settings)

    def to_json(self) -> dict[str, Any]:
        return {
            "images": [
                {"name": name, "data": base64.b64encode(data).decode("ascii")} for name, data in self.images
            ],
            **dataclasses.asdict(self.settings),
        }


def _decode_images(value: object) -> list[tuple[str, bytes]]:
    if not isinstance(value, list) or not value:
        raise RequestError("images", "a list of at least one {data, name} image is required")
    if len(value) > MAX_IMAGES:
        raise RequestError("images", f"{len(value)} images; at most {MAX_IMAGES} per job")
    problems = Problems()
    images: list[tuple[str, bytes]] = []
    for index, item in enumerate(value):
        where = f"images[{index}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("data"), str):
            problems.add(RequestError(f"{where}.data", "expected a base64 string"))
            continue
        name = item.get("name", "")
        if not isinstance(name, str):
            problems.add(RequestError(f"{where}.name", "expected a string"))
            continue
        data = item["data"]
        if data.startswith("data:") and "," in data:
            data = data.split(",", 1)[1]
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            problems.add(RequestError(f"{where}.data", "not valid base64"))
            continue
        if not raw:
            problems.add(RequestError(f"{where}.data", "empty image"))
            continue
        images.append((name, raw))
    problems.raise_any()
    return images


def _setting_value(name: str, kind: str, value: object) -> Any:
    if kind == "bool":
        if not isinstance(value, bool):
            raise RequestError(name, f"expected true or false, got {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise RequestError(name, f"expected a string, got {type(value).__name__}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(name, f"expected a number, got {value!r}")
    if kind == "int":
        if value != int(value):
            raise RequestError(name, f"expected a whole number, got {value!r}")
        return int(value)
    return float(value)


@dataclass
class ExtrasImage:
    """One Extras output, in the shape the job worker records (`studio.jobs.worker.summarize`)."""

    png: bytes
    infotext: str
    name: str = ""
    seed: int | None = None
    subseed: int | None = None
    path: str | None = None


@dataclass
class ExtrasResult:
    images: list[ExtrasImage] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False


def run_extras(engine: Any, job: ExtrasJob, control: GenerationControl) -> ExtrasResult:
    """Each image through Extras, one progress step per image; an interrupt stops before the
    next image (the ones made are kept)."""
    started = time.perf_counter()
    result = ExtrasResult()
    count = len(job.images)
    for index, (name, data) in enumerate(job.images):
        if control.interrupted:
            result.interrupted = True
            break
        field_name = f"images[{index}]"
        try:
            png, text = engine.upscalers.extras(data, job.settings)
        except RequestError as error:
            if error.field == "image":  # name the image of the batch that is bad
                raise RequestError(field_name, error.message) from error
            raise
        result.images.append(ExtrasImage(png=png, infotext=text, name=name))
        control.report_step(
            StepInfo(image_index=index, image_count=count, batch_index=0, step=index + 1, steps=count)
        )
    result.timings["total"] = time.perf_counter() - started
    return result


def check_names(settings: ExtrasSettings, upscalers: list[str], restorers: list[dict[str, Any]]) -> None:
    """RequestError(s) naming an unknown upscaler and a face restorer asked for but unusable."""
    problems = Problems()
    for name in ("upscaler_1", "upscaler_2"):
        value = getattr(settings, name)
        if value != "None" and value not in upscalers:
            problems.add(
                RequestError(name, f"unknown upscaler {value!r}; choose one of: {', '.join(upscalers)}")
            )
    reasons = {item["name"]: item.get("reason") for item in restorers if not item.get("available")}
    for field_name, name in (("gfpgan_visibility", "GFPGAN"), ("codeformer_visibility", "CodeFormer")):
        if getattr(settings, field_name) > 0 and name in reasons:
            problems.add(RequestError(field_name, f"{name} face restoration is unavailable: {reasons[name]}"))
    problems.raise_any()


def empty_payload(data: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(data, Mapping) or data:
        raise RequestError("payload", "takes no fields: send {}")
    return {}


def register_extras_kinds(runners: Any, engine: Any) -> None:
    """Register `extras`, `unload-checkpoint` and `reload-checkpoint` on a RunnerRegistry."""

    def extras(job: ExtrasJob, control: GenerationControl) -> ExtrasResult:
        return run_extras(engine, job, control)

    def unload(payload: Mapping[str, Any], control: GenerationControl) -> dict[str, Any]:
        engine.unload_models()
        return {"unloaded": True}

    def reload(payload: Mapping[str, Any], control: GenerationControl) -> dict[str, Any]:
        return {"model": engine.reload_model()}

    def decode(data: Mapping[str, Any]) -> ExtrasJob:
        job = ExtrasJob.from_json(data)
        check_names(job.settings, engine.upscalers.pixel_names(), engine.upscalers.face_restorers())
        return job

    runners.register(EXTRAS, extras, decode=decode)
    runners.register(UNLOAD_CHECKPOINT, unload, decode=empty_payload)
    runners.register(RELOAD_CHECKPOINT, reload, decode=empty_payload)
