from __future__ import annotations

import pytest

from studio.request import GenerationRequest
from studio.ui.controls import request_from_values, resolve_model, values_from_parameters

A1111 = {
    "Prompt": "a cat",
    "Negative prompt": "dog",
    "Steps": "12",
    "Sampler": "DPM++ 2M",
    "Schedule type": "Karras",
    "CFG scale": "5.5",
    "Seed": "1234",
    "Size-1": "64",
    "Size-2": "96",
    "Size": "64x96",
    "Model hash": "0123456789",
    "Model": "tiny",
    "Denoising strength": "0.4",
    "Version": "v1.10.1",
}


def test_values_from_a1111_parameters():
    values = values_from_parameters(A1111)
    assert values == {
        "prompt": "a cat",
        "negative_prompt": "dog",
        "sampler_name": "DPM++ 2M",
        "scheduler": "Karras",
        "steps": 12,
        "cfg_scale": 5.5,
        "seed": 1234,
        "denoising_strength": 0.4,
        "width": 64,
        "height": 96,
        "model_name": "tiny",
        "model_hash": "0123456789",
        "enable_hr": False,  # no Hires keys: hires fix off
        "hr_checkpoint_name": "Use same checkpoint",
        "restore_faces": False,  # no Face restoration key: off, as A1111's paste does
    }


def test_values_take_size_text_and_skip_bad_numbers():
    values = values_from_parameters({"prompt": "x", "size": "128x256", "Steps": "many", "CFG scale": ""})
    assert values == {
        "prompt": "x",
        "width": 128,
        "height": 256,
        "enable_hr": False,
        "hr_checkpoint_name": "Use same checkpoint",
        "restore_faces": False,
    }


def test_values_read_hires_checkpoint_and_face_restoration():
    values = values_from_parameters(
        {**A1111, "Face restoration": "GFPGAN", "Hires upscale": "2", "Hires checkpoint": "other"}
    )
    assert values["restore_faces"] is True and values["face_restoration_model"] == "GFPGAN"
    assert values["enable_hr"] is True and values["hr_checkpoint_name"] == "other"
    request = request_from_values({"prompt": "x", "hr_checkpoint_name": "Use same checkpoint"})
    assert request.hr_checkpoint_name is None


@pytest.mark.parametrize(
    ("name", "model_hash", "expected"),
    [
        (None, "0123456789", "other [0123456789]"),  # the hash wins over the name
        ("tiny", None, "tiny [abcdef0123]"),
        ("tiny", "0123456789", "other [0123456789]"),
        ("unknown", "ffffffffff", None),
    ],
)
def test_resolve_model_by_hash_then_name(name, model_hash, expected):
    values = {"prompt": "x"}
    if name:
        values["model_name"] = name
    if model_hash:
        values["model_hash"] = model_hash
    resolved = resolve_model(values, ["tiny [abcdef0123]", "other [0123456789]"])
    assert resolved.get("model") == expected
    assert "model_name" not in resolved and "model_hash" not in resolved


def test_request_from_widget_values_coerces_types():
    request = request_from_values(
        {
            "prompt": "p",
            "steps": 7.0,
            "width": 64.0,
            "height": 128.0,
            "seed": None,
            "cfg_scale": 6,
            "n_iter": 2.0,
            "batch_size": 1.0,
            "model": "(current)",
            "vae": "Automatic",
        },
        save_images=False,
    )
    assert request == GenerationRequest(
        prompt="p",
        steps=7,
        width=64,
        height=128,
        seed=-1,
        cfg_scale=6.0,
        n_iter=2,
        batch_size=1,
        save_images=False,
    )
    assert isinstance(request.steps, int) and isinstance(request.cfg_scale, float)
    assert request_from_values({"model": "tiny [abcdef0123]", "vae": "None"}).vae == "None"


def test_styles_travel_from_the_picker_and_back_from_png_info():
    request = request_from_values({"prompt": "a cat", "styles": ["Photo", "Warm"]})
    assert request.styles == ("Photo", "Warm")
    assert request_from_values({"styles": None}).styles == ()
    values = values_from_parameters({"Prompt": "a cat", "Styles array": ["Photo"]})
    assert values["styles"] == ["Photo"] and values["prompt"] == "a cat"
    assert "styles" not in values_from_parameters({"Prompt": "a cat"})
