"""The device, dtype and memory policy over the API: a device that cannot start is reported
(never a silent CPU fallback), each result says what it ran with, and the settings are options."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import torch

from studio.ui.services_backend import ServicesBackend

SMALL = {"prompt": "a red square", "steps": 1, "width": 64, "height": 64, "seed": 5}


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_fallback_is_reported_everywhere(make_server) -> None:
    server = make_server(device="cuda", memory_policy="auto")
    with httpx.Client(base_url=server.url, timeout=120) as client:
        status = client.get("/studio/v1/status").json()["device"]
        assert status["name"] == "cpu" and status["requested"] == "cuda"
        assert "cuda could not start" in status["fallback"]
        memory = client.get("/sdapi/v1/memory").json()
        assert set(memory) == {"ram", "cuda"}  # A1111's exact shape (strict clients): no device key
        answer = client.post("/sdapi/v1/txt2img", json=SMALL).json()
        info = json.loads(answer["info"])
        runtime = info["runtime"]
        assert runtime["fallback"] == status["fallback"] and runtime["dtype"] == "float32"
        assert runtime["memory"]["policy"] == "auto" and runtime["memory"]["fits"] is True
        assert "float32" not in info["infotexts"][0] and "cuda" not in info["infotexts"][0]
        job = client.post("/studio/v1/jobs", json={"kind": "generate", "payload": SMALL}).json()
        for _ in range(600):
            job = client.get(f"/studio/v1/jobs/{job['id']}").json()
            if job["state"] not in ("queued", "running"):
                break
            time.sleep(0.1)
        assert job["state"] == "done", job
        assert job["result"]["runtime"]["requested"] == "cuda"
    label = ServicesBackend(server.services).status().device
    assert label.startswith("cpu (float32) - FALLBACK: cuda could not start")


def test_dtype_and_memory_policy_are_options(make_server) -> None:
    server = make_server(device="cpu")
    with httpx.Client(base_url=f"{server.url}/sdapi/v1", timeout=60) as client:
        options = client.get("/options").json()
        assert options["dtype"] == "auto" and options["memory_policy"] == "off"
        bad = client.post("/options", json={"dtype": "fp8", "memory_policy": "sometimes"})
        assert bad.status_code == 422
        assert "dtype" in bad.text and "auto, fp32, fp16, bf16" in bad.text
        assert client.post("/options", json={"memory_policy": "auto", "dtype": "bf16"}).status_code == 200
        options = client.get("/options").json()
        assert options["memory_policy"] == "auto" and options["dtype"] == "bf16"
    saved = json.loads(server.services.config.config_file.read_text())
    assert saved["memory_policy"] == "auto" and saved["dtype"] == "bf16"


def test_t5_on_cpu_is_a_memory_option_and_the_result_reports_it(make_server) -> None:
    """The `t5_on_cpu` strategy is set like the others (the `memory` option); on a model without
    a T5 (the tiny SD 1.5) the result says there was nothing to move."""
    server = make_server(device="cpu")
    with httpx.Client(base_url=f"{server.url}/sdapi/v1", timeout=120) as client:
        assert client.post("/options", json={"memory": {"t5_on_cpu": {"dtype": "bf16"}}}).status_code == 200
        assert client.get("/options").json()["memory"] == {"t5_on_cpu": {"dtype": "bf16"}}
        runtime = json.loads(client.post("/txt2img", json=SMALL).json()["info"])["runtime"]
    assert runtime["memory"]["configured"] == ["t5_on_cpu"]
    assert "t5_on_cpu: this model has no T5 text encoder, nothing to move" in runtime["memory"]["note"]
