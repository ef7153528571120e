"""ControlNet units as sd-webui-controlnet's API takes them, validated, and their infotext.

A unit is what `webuiapi.ControlNetUnit.to_dict()` sends inside
`alwayson_scripts.controlnet.args`. Each is checked here; a bad field raises RequestError naming
`controlnet.args[i].field`. Units travel in a request as JSON-safe dicts (`ControlNetUnit.to_json`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from studio.request import RequestError, decode_base64

RESIZE_MODES = ("Just Resize", "Crop and Resize", "Resize and Fill")
# older spellings the extension still accepts
RESIZE_ALIASES = {
    "Scale to Fit (Inner Fit)": "Crop and Resize",
    "Envelope (Outer Fit)": "Resize and Fill",
    "Inner Fit (Scale to Fit)": "Crop and Resize",
    "Outer Fit (Shrink to Fit)": "Resize and Fill",
}
CONTROL_MODES = ("Balanced", "My prompt is more important", "ControlNet is more important")
# Fields clients send that change nothing here: memory hints, UI state, batch/loopback options of
# the extension's own UI. Accepted with any value; documented in docs/controlnet.md.
NO_EFFECT_FIELDS = frozenset(
    {
        "low_vram",
        "lowvram",
        "is_ui",
        "save_detected_map",
        "input_mode",
        "batch_images",
        "output_dir",
        "loopback",
        "use_preview_as_input",
        "generated_image",
        "batch_image_dir",
        "batch_mask_dir",
        "batch_input_gallery",
        "batch_mask_gallery",
        "batch_modifiers",
        "animatediff_batch",
    }
)
# Fields accepted only at their neutral value (a real value would need a feature not built).
NEUTRAL_FIELDS: dict[str, tuple[Any, ...]] = {
    "mask": (None, ""),
    "mask_image": (None, ""),
    "effective_region_mask": (None, ""),
    "guessmode": (None, False),
    "hr_option": (None, "Both", "both", 0),
    "advanced_weighting": (None,),
    "inpaint_crop_input_image": (None, False, True),
    "ipadapter_input": (None,),
    "pulid_mode": (None, "Fidelity"),
    "union_control_type": (None, "Unknown"),
}


@dataclass(frozen=True)
class ControlNetUnit:
    image: bytes | None = None
    module: str = "none"
    model: str = "None"
    weight: float = 1.0
    resize_mode: str = "Crop and Resize"
    processor_res: int = 512
    threshold_a: float = -1.0
    threshold_b: float = -1.0
    guidance_start: float = 0.0
    guidance_end: float = 1.0
    control_mode: str = "Balanced"
    pixel_perfect: bool = False
    enabled: bool = True

    def to_json(self) -> dict[str, Any]:
        import base64

        data = dataclasses.asdict(self)
        data["image"] = None if self.image is None else base64.b64encode(self.image).decode("ascii")
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ControlNetUnit:
        values = dict(data)
        if values.get("image") is not None:
            values["image"] = decode_base64(values["image"], "controlnet.image")
        return cls(**values)


def _choice(value: Any, names: Sequence[str], aliases: Mapping[str, str], field_name: str) -> str:
    if isinstance(value, bool):
        raise RequestError(field_name, f"expected one of {', '.join(names)} (or 0..{len(names) - 1})")
    if isinstance(value, int) and 0 <= value < len(names):
        return names[value]
    if isinstance(value, str):
        text = aliases.get(value, value)
        for name in names:
            if text.lower() == name.lower():
                return name
        if text.isdigit() and int(text) < len(names):
            return names[int(text)]
    raise RequestError(field_name, f"{value!r} is not one of {', '.join(names)} (or 0..{len(names) - 1})")


def _number(data: Mapping[str, Any], key: str, default: float, field_name: str) -> float:
    value = data.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(field_name, f"expected a number, got {value!r}")
    return float(value)


def parse_unit(data: Any, index: int, known_modules: Sequence[str]) -> ControlNetUnit:
    """One unit dict as clients send it; RequestError names the first bad field."""
    prefix = f"controlnet.args[{index}]"
    if not isinstance(data, Mapping):
        raise RequestError(prefix, f"a unit is an object, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(ControlNetUnit)} | {"input_image", "image"}
    errors: list[str] = []
    for key, value in data.items():
        if key in known or key in NO_EFFECT_FIELDS:
            continue
        if key in NEUTRAL_FIELDS:
            if value not in NEUTRAL_FIELDS[key]:
                errors.append(f"{prefix}.{key}: not supported (only {NEUTRAL_FIELDS[key][0]!r} is accepted)")
            continue
        errors.append(f"{prefix}.{key}: unknown field")
    if errors:
        raise RequestError(errors[0].split(":", 1)[0], "; ".join(errors))
    raw_image = data.get("input_image") or data.get("image")
    if isinstance(raw_image, Mapping):  # the extension's {"image": ..., "mask": ...} form
        raw_image = raw_image.get("image")
    image = decode_base64(raw_image, f"{prefix}.input_image") if raw_image else None
    module = data.get("module") or "none"
    if not isinstance(module, str) or module not in known_modules:
        raise RequestError(
            f"{prefix}.module", f"unknown preprocessor {module!r}; see /controlnet/module_list"
        )
    model = data.get("model") or "None"
    if not isinstance(model, str):
        raise RequestError(f"{prefix}.model", f"expected a model name, got {model!r}")
    enabled = data.get("enabled", True)
    unit = ControlNetUnit(
        image=image,
        module=module,
        model=model,
        weight=_number(data, "weight", 1.0, f"{prefix}.weight"),
        resize_mode=_choice(
            data.get("resize_mode", 1), RESIZE_MODES, RESIZE_ALIASES, f"{prefix}.resize_mode"
        ),
        processor_res=int(_number(data, "processor_res", 512, f"{prefix}.processor_res")),
        threshold_a=_number(data, "threshold_a", -1.0, f"{prefix}.threshold_a"),
        threshold_b=_number(data, "threshold_b", -1.0, f"{prefix}.threshold_b"),
        guidance_start=_number(data, "guidance_start", 0.0, f"{prefix}.guidance_start"),
        guidance_end=_number(data, "guidance_end", 1.0, f"{prefix}.guidance_end"),
        control_mode=_choice(data.get("control_mode", 0), CONTROL_MODES, {}, f"{prefix}.control_mode"),
        pixel_perfect=bool(data.get("pixel_perfect", False)),
        enabled=bool(enabled),
    )
    check_unit(unit, prefix)
    return unit


def check_unit(unit: ControlNetUnit, prefix: str) -> None:
    if not 0.0 <= unit.weight <= 2.0:
        raise RequestError(f"{prefix}.weight", f"must be in 0..2, got {unit.weight}")
    if not 0.0 <= unit.guidance_start <= 1.0:
        raise RequestError(f"{prefix}.guidance_start", f"must be in 0..1, got {unit.guidance_start}")
    if not 0.0 <= unit.guidance_end <= 1.0:
        raise RequestError(f"{prefix}.guidance_end", f"must be in 0..1, got {unit.guidance_end}")
    if unit.guidance_start > unit.guidance_end:
        raise RequestError(f"{prefix}.guidance_start", "must not be above guidance_end")
    if not 64 <= unit.processor_res <= 2048 and unit.processor_res != -1:
        raise RequestError(f"{prefix}.processor_res", f"must be in 64..2048, got {unit.processor_res}")
    if unit.enabled and unit.image is None:
        raise RequestError(f"{prefix}.input_image", "an enabled unit needs an image")
    if unit.enabled and unit.model in ("", "None", "none"):
        raise RequestError(f"{prefix}.model", "an enabled unit needs a model; see /controlnet/model_list")


def parse_units(args: Any, known_modules: Sequence[str]) -> tuple[ControlNetUnit, ...]:
    """`alwayson_scripts.controlnet.args` as enabled units (disabled ones are dropped)."""
    if not isinstance(args, list | tuple):
        raise RequestError("controlnet.args", f"expected a list of units, got {type(args).__name__}")
    units = [parse_unit(item, i, known_modules) for i, item in enumerate(args)]
    return tuple(unit for unit in units if unit.enabled)


def _number_text(value: float) -> str:
    return str(float(value))


def _threshold_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def unit_infotext(unit: ControlNetUnit, model_title: str) -> str:
    """The value of `ControlNet N: "..."` as sd-webui-controlnet writes it (the infotext writer
    quotes it, since it holds commas and colons)."""
    fields = [
        ("Module", unit.module),
        ("Model", model_title),
        ("Weight", _number_text(unit.weight)),
        ("Resize Mode", unit.resize_mode),
        ("Processor Res", str(unit.processor_res)),
        ("Threshold A", _threshold_text(unit.threshold_a)),
        ("Threshold B", _threshold_text(unit.threshold_b)),
        ("Guidance Start", _number_text(unit.guidance_start)),
        ("Guidance End", _number_text(unit.guidance_end)),
        ("Pixel Perfect", str(unit.pixel_perfect)),
        ("Control Mode", unit.control_mode),
    ]
    return ", ".join(f"{key}: {value}" for key, value in fields)
