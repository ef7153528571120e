"""The backend and quantization settings through /sdapi/v1/options on a real server: saved,
checked (a 422 names the bad key), and used by the next job (OpenVINO exports under
models/OpenVINO; a size it cannot take is a 422 naming width)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import LiveServer, make_config, serve

SMALL = {"prompt": "a red circle", "width": 64, "height": 64, "steps": 2, "seed": 3}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[LiveServer]:
    live = serve(make_config(tmp_path_factory.mktemp("backend"), tiny_model_dir))
    yield live
    live.stop()


@pytest.mark.slow
def test_backend_option_is_saved_checked_and_used(server: LiveServer) -> None:
    pytest.importorskip("openvino")
    with httpx.Client(base_url=server.url, timeout=300) as client:
        bad = client.post("/sdapi/v1/options", json={"backend": "tensorrt"})
        assert bad.status_code == 422 and bad.json()["field"] == "backend"
        assert "auto, torch, openvino" in bad.json()["detail"][0]["msg"]
        bad = client.post("/sdapi/v1/options", json={"quantize_unet": "fp4"})
        assert bad.status_code == 422 and bad.json()["field"] == "quantize_unet"
        bad = client.post("/sdapi/v1/options", json={"openvino_int8": "maybe"})
        assert bad.status_code == 422 and bad.json()["field"] == "openvino_int8"
        answer = client.post(
            "/sdapi/v1/options",
            json={"backend": "openvino", "openvino_int8": True, "quantize_text_encoder": "none"},
        )
        assert answer.status_code == 200, answer.text
        options = client.get("/sdapi/v1/options").json()
        assert options["backend"] == "openvino" and options["quantize_unet"] == "none"
        assert options["openvino_int8"] is True
        saved = json.loads(server.services.config.config_file.read_text(encoding="utf-8"))
        assert saved["backend"] == "openvino" and saved["openvino_int8"] is True
        image = client.post("/sdapi/v1/txt2img", json=SMALL)
        assert image.status_code == 200, image.text
        assert len(image.json()["images"]) == 1
        runtime = json.loads(image.json()["info"])["runtime"]
        assert runtime["backend"]["used"] == "openvino" and runtime["backend"]["openvino_int8"] is True
        models = server.services.config.models_path
        assert list((models / "OpenVINO").glob("*/unet-*/unet.xml"))  # the job ran through OpenVINO
        assert list((models / "OpenVINO").glob("*/unet-*/unet-int8.xml"))  # int8: made from the export
        refused = client.post("/sdapi/v1/txt2img", json={**SMALL, "width": 72})
        assert refused.status_code == 422 and refused.json()["field"] == "width"
        assert "openvino" in refused.text
        # the defaults, for the next test
        client.post("/sdapi/v1/options", json={"backend": "auto", "openvino_int8": False})


def test_compile_and_channels_last_options_are_saved_checked_and_reported(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=300) as client:
        bad = client.post("/sdapi/v1/options", json={"channels_last": "maybe", "backend": "tensorrt"})
        assert bad.status_code == 422
        assert {item["loc"][-1] for item in bad.json()["detail"]} >= {"channels_last"}
        answer = client.post("/sdapi/v1/options", json={"channels_last": True})
        assert answer.status_code == 200, answer.text
        options = client.get("/sdapi/v1/options").json()
        assert options["channels_last"] is True and options["torch_compile"] is False
        assert options["backend"] == "auto"  # the default
        saved = json.loads(server.services.config.config_file.read_text(encoding="utf-8"))
        assert saved["channels_last"] is True
        image = client.post("/sdapi/v1/txt2img", json=SMALL)
        assert image.status_code == 200, image.text
        runtime = json.loads(image.json()["info"])["runtime"]
        assert runtime["backend"]["channels_last"] is True and runtime["backend"]["used"] == "torch"
        client.post("/sdapi/v1/options", json={"channels_last": False})
