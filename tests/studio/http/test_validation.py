"""Issue #19.11 and #20.8: one 422 names EVERY bad field (pydantic-style `detail`, as A1111
answers) on /sdapi/v1 and /studio/v1; prompts must be text (no lone surrogates, no NUL or other
control characters) and nothing is ever written raw into a PNG text chunk."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from studio.infotext import encode_png, png_safe_text, read_png_infotext

from .conftest import LiveServer

SMALL = {"prompt": "a red circle", "width": 64, "height": 64, "steps": 2, "seed": 1}


def post_raw(live: LiveServer, path: str, text: str | bytes) -> httpx.Response:
    """POST a JSON text as written (so escapes such as \\ud800 reach the server unchanged)."""
    content = text.encode() if isinstance(text, str) else text
    return httpx.post(
        f"{live.url}{path}", content=content, headers={"content-type": "application/json"}, timeout=60
    )


def named(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] is not None and body["detail"]
    for item in body["detail"]:
        assert set(item) == {"loc", "msg", "type"} and item["loc"][0] == "body"
    return {".".join(str(part) for part in item["loc"][1:]): item["msg"] for item in body["detail"]}


@pytest.mark.parametrize("path", ["/sdapi/v1/txt2img", "/studio/v1/jobs"])
@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("\\ud800x", "surrogate"),
        ("a\\udfffb", "surrogate"),
        ("a\\u0000b", "U+0000"),
        ("bell\\u0007", "U+0007"),
    ],
)
def test_prompts_must_be_text(live: LiveServer, path: str, text: str, words: str) -> None:
    for field in ("prompt", "negative_prompt"):
        fields = f'"{field}": "{text}", "width": 64, "height": 64, "steps": 2'
        body = "{" + fields + "}" if path.startswith("/sdapi") else '{"payload": {' + fields + "}}"
        found = named(post_raw(live, path, body))
        key = field if path.startswith("/sdapi") else f"payload.{field}"
        assert words in found[key], found


def test_newlines_and_tabs_stay_allowed(live: LiveServer) -> None:
    response = httpx.post(
        f"{live.url}/sdapi/v1/txt2img", json={**SMALL, "prompt": "a red\n\tcircle"}, timeout=120
    )
    assert response.status_code == 200, response.text


def test_a1111_names_every_bad_field_at_once(live: LiveServer) -> None:
    body = {
        **SMALL,
        "prompt": "nul\x00",
        "width": 65,
        "steps": 0,
        "cfg_scale": 99,
        "sampler_name": "Nope",
        "override_settings": {"sd_model_checkpoint": "missing-model", "sd_vae": "missing-vae"},
    }
    found = named(httpx.post(f"{live.url}/sdapi/v1/txt2img", json=body, timeout=60))
    assert set(found) == {
        "prompt",
        "width",
        "steps",
        "cfg_scale",
        "sampler_name",
        "override_settings.sd_model_checkpoint",
        "override_settings.sd_vae",
    }


def test_a1111_type_errors_are_named_together_too(live: LiveServer) -> None:
    found = named(
        httpx.post(f"{live.url}/sdapi/v1/txt2img", json={"steps": "many", "width": [1]}, timeout=60)
    )
    assert set(found) == {"steps", "width"}
    images = named(
        httpx.post(
            f"{live.url}/sdapi/v1/img2img",
            json={**SMALL, "init_images": ["%%%", "also bad"], "mask": "!!", "steps": 0},
            timeout=60,
        )
    )
    assert set(images) == {"init_images.0", "init_images.1", "mask", "steps"}


def test_native_names_every_bad_field_at_once(live: LiveServer) -> None:
    payload = {**SMALL, "colour": "red", "shape": 1, "width": 65, "steps": 0, "init_images": ["%%%"]}
    found = named(httpx.post(f"{live.url}/studio/v1/jobs", json={"payload": payload}, timeout=60))
    assert set(found) == {
        f"payload.{name}" for name in ("colour", "shape", "width", "steps", "init_images.0")
    }
    bad_kind = named(
        httpx.post(f"{live.url}/studio/v1/jobs", json={"payload": [], "priority": 1000}, timeout=60)
    )
    assert set(bad_kind) == {"payload", "priority"}


def test_options_name_every_bad_key(live: LiveServer) -> None:
    found = named(
        httpx.post(
            f"{live.url}/sdapi/v1/options",
            json={"CLIP_stop_at_last_layers": 99, "samples_save": "yes", "sd_vae": 3},
            timeout=60,
        )
    )
    assert set(found) == {"CLIP_stop_at_last_layers", "samples_save", "sd_vae"}


@pytest.mark.parametrize(
    "text",
    [
        '{"prompt": NaN}',
        '{"cfg_scale": Infinity}',
        '{"prompt": "x", "extra": {"\\ud800": 1}}',
        "{not json",
        b"\xff",  # found by the fuzz test: not UTF-8 answered 400, declared nowhere
        b'{"prompt": "\xc3"}',
    ],
)
def test_bodies_that_are_not_json_text_are_422_not_500(live: LiveServer, text: str | bytes) -> None:
    for path in ("/sdapi/v1/txt2img", "/sdapi/v1/options", "/studio/v1/jobs"):
        response = post_raw(live, path, text)
        assert response.status_code == 422, (path, text, response.text)


def test_png_text_chunks_never_hold_raw_control_characters_or_surrogates() -> None:
    assert png_safe_text("a\x00b\ud800c\n\td") == "a\\x00b\\ud800c\n\td"
    png = encode_png(Image.new("RGB", (8, 8)), "nul\x00 and \ud800, Steps: 2")
    assert b"nul\x00 and" not in png
    assert read_png_infotext(png) == "nul\\x00 and \\ud800, Steps: 2"
    with Image.open(io.BytesIO(png)) as image:
        assert image.info["parameters"] == "nul\\x00 and \\ud800, Steps: 2"
