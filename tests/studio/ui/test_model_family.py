"""The form's family fields without a browser: what is sent for each family, and PNG Info's
family keys back into the form."""

from __future__ import annotations

from studio.infotext import parse_infotext
from studio.ui.controls import request_from_values, values_from_parameters
from studio.ui.model_family import FAMILY_FIELDS, NO_REFINER, family_values

FORM = {
    "prompt": "a cat",
    "distilled_cfg_scale": 5.0,
    "flow_shift": 0,
    "skip_layer_guidance_scale": 2.0,
    "refiner_checkpoint": NO_REFINER,
    "refiner_switch_at": 0.6,
    "original_width": 512.0,
    "original_height": 0,
    "crop_left": 8,
    "crop_top": 0,
}


def test_fields_the_family_lacks_are_sent_as_unused() -> None:
    flux = family_values(FORM, ["distilled_cfg_scale", "flow_shift"])
    assert flux["distilled_cfg_scale"] == 5.0 and flux["flow_shift"] is None  # 0: the model's own shift
    assert all(
        flux[name] == FAMILY_FIELDS[name]
        for name in ("skip_layer_guidance_scale", "original_width", "crop_left")
    )
    request = request_from_values(flux)
    assert request.distilled_cfg_scale == 5.0 and request.original_width == 0

    sdxl = family_values(
        {**FORM, "refiner_checkpoint": "refiner [0123456789]"},
        ["original_width", "original_height", "crop_left", "crop_top", "refiner_checkpoint"],
    )
    assert sdxl["distilled_cfg_scale"] is None and sdxl["skip_layer_guidance_scale"] == 0.0
    assert sdxl["original_width"] == 512 and isinstance(sdxl["original_width"], int)
    assert sdxl["refiner_checkpoint"] == "refiner [0123456789]" and sdxl["refiner_switch_at"] == 0.6
    assert family_values(FORM, ["refiner_checkpoint"])["refiner_checkpoint"] is None  # "None" picked


def test_png_info_family_keys_fill_the_form() -> None:
    text = (
        "a cat\nSteps: 4, Sampler: Euler, CFG scale: 1, Seed: 3, Size: 64x64, Model: flux, "
        "Distilled CFG Scale: 4.5, Shift: 2, Original size: 1024x768, Crop top left: 16x8, Refiner switch at: 0.7"
    )
    values = values_from_parameters(parse_infotext(text))
    assert values["distilled_cfg_scale"] == 4.5 and values["flow_shift"] == 2.0
    assert (values["original_width"], values["original_height"]) == (1024, 768)
    assert (values["crop_left"], values["crop_top"]) == (16, 8) and values["refiner_switch_at"] == 0.7
