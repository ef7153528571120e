"""The `auto` backend (the default), torch.compile and channels-last through the real engine on
the tiny SD 1.x model: auto keeps a small model on torch quietly, puts a full-size model on a CPU
on OpenVINO and falls back to torch loudly where OpenVINO cannot run the job; a compiled or
channels-last UNet makes the same picture as eager and says so in `runtime.backend`."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from studio.config import StudioConfig
from studio.pipeline.backends import choice
from studio.pipeline.backends.choice import AUTO_MIN_WEIGHTS_BYTES, choose_backend
from studio.pipeline.engine import Engine
from studio.request import GenerationRequest
from tests.studio.pipeline.conftest import pixels

BASE = GenerationRequest(prompt="a red circle", seed=5, steps=3, width=64, height=64, save_images=False)
FULL = 4 * 2**30  # SD 1.5's fp32 weights, about


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(float) - b.astype(float)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def test_auto_picks_openvino_only_for_full_size_sd_models_on_a_cpu() -> None:
    facts = {
        "on_cpu": True,
        "cpu_bf16": True,
        "family": "sd15",
        "weights_bytes": FULL,
        "refusals": {},
        "openvino_missing": None,
    }
    assert choose_backend("auto", **facts)[::2] == ("openvino", False)
    assert choose_backend("torch", **facts)[::2] == ("torch", False)
    small = choose_backend("auto", **{**facts, "weights_bytes": AUTO_MIN_WEIGHTS_BYTES - 1})
    assert small[::2] == ("torch", False) and "small model" in small[1]
    no_bf16 = choose_backend("auto", **{**facts, "cpu_bf16": False})  # openvino measured 1.0x there
    assert no_bf16[::2] == ("torch", False) and "no AVX-512 BF16" in no_bf16[1]
    gpu = choose_backend("auto", **{**facts, "on_cpu": False})
    assert gpu[::2] == ("torch", False) and "on a CPU only" in gpu[1]
    refused = choose_backend("auto", **{**facts, "refusals": {"controlnet_units": "ControlNet does not run"}})
    assert refused[::2] == ("torch", True)
    assert "controlnet_units: ControlNet does not run" in refused[1] and "ran on torch" in refused[1]
    missing = choose_backend("auto", **{**facts, "openvino_missing": "openvino is not installed"})
    assert missing[::2] == ("torch", True) and "not installed" in missing[1]
    # an explicit openvino: refusals are the request's 422s (checked before), a missing package is loud
    assert choose_backend("openvino", **{**facts, "openvino_missing": "gone"})[::2] == ("torch", True)


def test_auto_keeps_a_small_model_on_torch_quietly(studio_config: StudioConfig) -> None:
    assert studio_config.backend == "auto"
    result = Engine(studio_config).generate(BASE)
    assert result.warnings == []
    backend = result.runtime["backend"]
    assert backend["setting"] == "auto" and backend["used"] == "torch"
    assert "small model" in backend["reason"]
    assert backend["torch_compile"] is False and backend["channels_last"] is False
    assert not (studio_config.models_path / "OpenVINO").exists()  # nothing exported


@pytest.mark.slow
def test_auto_runs_a_full_size_model_on_openvino_and_falls_back_loudly(
    studio_config: StudioConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openvino")
    engine = Engine(replace(studio_config, backend="torch"))
    reference = pixels(engine.generate(BASE).images[0].png)
    # the tiny model counts as full-size: the line moved below its 5 MB
    monkeypatch.setattr(choice, "AUTO_MIN_WEIGHTS_BYTES", 1)
    engine.config = studio_config
    result = engine.generate(BASE)
    assert result.warnings == [] and result.runtime["backend"]["used"] == "openvino"
    assert list((studio_config.models_path / "OpenVINO").glob("*/unet-*/unet.xml"))
    assert psnr(pixels(result.images[0].png), reference) > 30
    odd = engine.generate(replace(BASE, width=72))  # not a 422 with auto: torch, said loudly
    assert len(odd.images) == 1 and odd.runtime["backend"]["used"] == "torch"
    assert len(odd.warnings) == 1 and odd.warnings[0].startswith("backend auto: openvino cannot run this job")
    assert "width: the openvino backend needs a multiple of 64 px" in odd.warnings[0]


def test_channels_last_weights_make_the_same_picture_and_switch_back(studio_config: StudioConfig) -> None:
    import torch

    engine = Engine(studio_config)
    reference = pixels(engine.generate(BASE).images[0].png)
    engine.config = replace(studio_config, channels_last=True)
    result = engine.generate(BASE)
    loaded = engine.cache.get(*_cache_args(engine))
    weight = loaded.pipe.unet.conv_in.weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    assert result.runtime["backend"]["channels_last"] is True
    assert psnr(pixels(result.images[0].png), reference) > 40
    engine.config = studio_config
    engine.generate(BASE)
    assert loaded.pipe.unet.conv_in.weight.is_contiguous()


@pytest.mark.slow
def test_torch_compile_runs_the_unet_compiled_with_the_same_picture(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    # in a process of its own: inductor's compiled code runs native code, and a crash in it (one
    # was seen once under heavy memory pressure) must fail this test, not end the whole run;
    # its own inductor cache, so no other process compiling at the same time shares its files
    code = "import sys; from tests.studio.pipeline.test_backend_choice import compiled_run; compiled_run(*sys.argv[1:])"
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path), str(tiny_model_dir)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
        env={**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor-cache")},
        timeout=1200,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "compiled run ok"


def compiled_run(root: str, tiny_model_dir: str) -> None:
    """The compile check, run by the test above in a fresh interpreter."""
    from tests.helpers import make_studio_config

    studio_config = make_studio_config(Path(root), Path(tiny_model_dir))
    engine = Engine(replace(studio_config, backend="torch"))
    reference = pixels(engine.generate(BASE).images[0].png)
    engine.config = replace(studio_config, backend="torch", torch_compile=True)
    result = engine.generate(BASE)
    assert result.runtime["backend"]["torch_compile"] is True and result.warnings == []
    unet = engine.cache.get(*_cache_args(engine)).pipe.unet
    assert unet in engine._acceleration._compiled  # compiled once for this loaded UNet
    assert "forward" not in vars(unet)  # the eager forward is back after the job
    assert psnr(pixels(result.images[0].png), reference) > 35
    again = engine.generate(BASE)  # reuses the compiled forward
    assert np.array_equal(pixels(again.images[0].png), pixels(result.images[0].png))
    print("compiled run ok")


def _cache_args(engine: Engine) -> tuple[object, ...]:
    entry = engine.registry.find("checkpoint", "tiny")
    return entry, engine.device, dict(engine.config.memory), engine.config.allow_pickle


def test_the_command_line_sets_compile_and_channels_last(tmp_path: Path) -> None:
    from studio.cli import acceleration
    from studio.cli.serve import parse_args
    from studio.config import load_config

    args = parse_args(["--torch-compile", "--no-channels-last", "--backend", "torch", "--openvino-int8"])
    values = acceleration.config_values(args)
    assert values == {
        "backend": "torch",
        "openvino_int8": True,
        "torch_compile": True,
        "channels_last": False,
        "quantize_unet": None,
        "quantize_text_encoder": None,
    }
    config = load_config({"data_dir": tmp_path, **values}, environ={"ATELIER_CHANNELS_LAST": "true"})
    assert config.torch_compile is True and config.channels_last is False  # the command line wins
    assert config.openvino_int8 is True
    assert acceleration.config_values(parse_args([]))["torch_compile"] is None  # not given: the file's
