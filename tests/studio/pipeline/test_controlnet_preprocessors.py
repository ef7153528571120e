"""The torch-free ControlNet parts: preprocessors, resize modes, pixel perfect, unit parsing."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from PIL import Image, ImageDraw

from studio.controlnet import preprocessors
from studio.controlnet.units import parse_units
from studio.request import RequestError


def square(size: int = 64) -> Image.Image:
    image = Image.new("RGB", (size, size), "black")
    ImageDraw.Draw(image).rectangle((16, 16, 47, 47), fill="white")
    return image


def test_canny_finds_the_square_outline_only() -> None:
    edges = np.asarray(preprocessors.run("canny", square(), 64, 100, 200, "annotators").convert("L"))
    assert set(np.unique(edges).tolist()) == {0, 255}
    assert edges[32, 32] == 0 and edges[2, 2] == 0  # inside and outside are flat
    assert edges[14:19, 32].max() == 255 and edges[45:50, 32].max() == 255  # top and bottom sides
    higher = np.asarray(preprocessors.run("canny", square(), 64, 254, 255, "annotators").convert("L"))
    assert higher.sum() <= edges.sum()


@pytest.mark.parametrize(
    "name", ["none", "invert", "threshold", "tile_resample", "lineart_standard", "scribble_xdog", "shuffle"]
)
def test_every_built_in_preprocessor_runs(name: str) -> None:
    out = preprocessors.run(name, square(), 64, -1, -1, "annotators")
    assert out.mode == "RGB" and out.size == (64, 64)


def test_invert_and_model_based_refusal() -> None:
    inverted = np.asarray(preprocessors.run("invert", square(), 64, -1, -1, "annotators"))
    assert inverted[32, 32].tolist() == [0, 0, 0] and inverted[0, 0].tolist() == [255, 255, 255]
    with pytest.raises(RequestError, match=r"openpose/body_pose_model.pth.*models/ControlNet/annotators"):
        preprocessors.run("openpose", square(), 64, -1, -1, "models/ControlNet/annotators")


def test_resize_modes_and_pixel_perfect() -> None:
    wide = Image.new("RGB", (200, 100), "white")
    assert preprocessors.fit_to_size(wide, 64, 64, "Just Resize").size == (64, 64)
    filled = np.asarray(preprocessors.fit_to_size(wide, 64, 64, "Resize and Fill"))
    assert filled[0, 32].tolist() == [0, 0, 0] and filled[32, 32].tolist() == [255, 255, 255]  # padded
    cropped = np.asarray(preprocessors.fit_to_size(wide, 64, 64, "Crop and Resize"))
    assert cropped.min() == 255  # filled, nothing padded
    assert preprocessors.pixel_perfect_resolution(wide, 64, 64, "Crop and Resize") == 64
    assert preprocessors.pixel_perfect_resolution(wide, 64, 64, "Resize and Fill") == 32


def test_units_as_webuiapi_sends_them() -> None:
    image = base64.b64encode(b"not checked here").decode()
    sent = {
        "image": image,
        "mask": None,
        "module": "canny",
        "model": "m",
        "weight": 1.0,
        "resize_mode": "Resize and Fill",
        "low_vram": False,
        "processor_res": 512,
        "threshold_a": 100,
        "threshold_b": 200,
        "guidance_start": 0.0,
        "guidance_end": 1.0,
        "control_mode": "ControlNet is more important",
        "pixel_perfect": True,
        "hr_option": "Both",
        "enabled": True,
    }
    [unit] = parse_units([sent, {**sent, "enabled": False}], preprocessors.accepted_names())
    assert unit.resize_mode == "Resize and Fill" and unit.control_mode == "ControlNet is more important"
    assert unit.pixel_perfect and unit.image == b"not checked here"
    [by_number] = parse_units([{**sent, "resize_mode": 0, "control_mode": 1}], preprocessors.accepted_names())
    assert by_number.resize_mode == "Just Resize" and by_number.control_mode == "My prompt is more important"
    with pytest.raises(RequestError, match=r"controlnet.args\[0\].weight"):
        parse_units([{**sent, "weight": 3}], preprocessors.accepted_names())
    with pytest.raises(RequestError, match=r"controlnet.args\[0\].mask"):
        parse_units([{**sent, "mask": image}], preprocessors.accepted_names())
    with pytest.raises(RequestError, match=r"controlnet.args\[0\].module"):
        parse_units([{**sent, "module": "nonsense"}], preprocessors.accepted_names())
