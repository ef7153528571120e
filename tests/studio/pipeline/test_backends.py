"""The OpenVINO backend and weight quantization through the real engine on the tiny SD 1.x model:
OpenVINO's image is close to PyTorch's, its export is written once and read back by the next
engine, a LoRA set gets its own export, what it cannot run is refused by field, a missing
openvino falls back to torch loudly; quantized components run and are what they say."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from studio.config import ConfigError, StudioConfig, load_config
from studio.pipeline.engine import Engine
from studio.progress import GenerationControl, StepInfo
from studio.request import GenerationRequest, RequestError
from tests.studio.pipeline import network_files as files
from tests.studio.pipeline.conftest import pixels

BASE = GenerationRequest(prompt="a red circle", seed=5, steps=4, width=64, height=64, save_images=False)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(float) - b.astype(float)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def exports(engine: Engine) -> int:
    return sum(models.exports for models in engine._acceleration.openvino._models.values())


def quantizations(engine: Engine) -> int:
    return sum(models.quantizations for models in engine._acceleration.openvino._models.values())


def variants(config: StudioConfig, kind: str) -> list[Path]:
    return sorted((config.models_path / "OpenVINO").glob(f"*/{kind}-*/{kind}.xml"))


@pytest.mark.slow
def test_openvino_image_is_close_to_torch_and_its_export_is_reused(studio_config: StudioConfig) -> None:
    pytest.importorskip("openvino")
    engine = Engine(studio_config)
    reference = pixels(engine.generate(BASE).images[0].png)
    engine.config = replace(studio_config, backend="openvino")
    steps: list[StepInfo] = []
    first = engine.generate(BASE, GenerationControl(on_step=steps.append))
    assert first.warnings == []
    assert [step.step for step in steps] == [1, 2, 3, 4]  # the Python scheduler and callbacks ran
    assert exports(engine) == 2  # the UNet and the VAE decoder, once
    assert len(variants(studio_config, "unet")) == 1 and len(variants(studio_config, "vae_decoder")) == 1
    assert first.runtime["backend"]["openvino_int8"] is False and quantizations(engine) == 0  # the default
    image = pixels(first.images[0].png)
    assert psnr(image, reference) > 30
    assert not np.array_equal(image, reference)  # it did run elsewhere (bf16 or f32 kernels differ)
    # another sampler and another seed: the scheduler stays the studio's
    other = engine.generate(replace(BASE, sampler_name="DPM++ 2M", scheduler="Karras", seed=11))
    engine.config = studio_config
    torch_other = engine.generate(replace(BASE, sampler_name="DPM++ 2M", scheduler="Karras", seed=11))
    assert psnr(pixels(other.images[0].png), pixels(torch_other.images[0].png)) > 30

    fresh = Engine(replace(studio_config, backend="openvino"))  # a new studio: reads the export back
    again = fresh.generate(BASE)
    assert exports(fresh) == 0
    assert np.array_equal(pixels(again.images[0].png), image)
    taller = fresh.generate(replace(BASE, height=128, batch_size=2))  # another static size compiles
    assert len(taller.images) == 2
    models = next(iter(fresh._acceleration.openvino._models.values()))
    assert models.compiles() == 4  # two sizes x (UNet, VAE decoder)
    # int8 on: quantized once from the same export (no new one) and kept beside it
    int8_config = replace(studio_config, backend="openvino", openvino_int8=True)
    fresh.config = int8_config
    int8 = fresh.generate(BASE)
    assert exports(fresh) == 0 and quantizations(fresh) == 1
    assert int8.runtime["backend"]["openvino_int8"] is True
    unet_folder = variants(studio_config, "unet")[0].parent
    assert {path.name for path in unet_folder.glob("*.xml")} == {"unet.xml", "unet-int8.xml"}
    int8_image = pixels(int8.images[0].png)
    assert not np.array_equal(int8_image, image)  # another model ran
    assert psnr(int8_image, reference) > 20  # the tiny model's int8 stays a picture of the same thing
    later = Engine(int8_config)  # the next studio reads the int8 model back
    assert np.array_equal(pixels(later.generate(BASE).images[0].png), int8_image)
    assert exports(later) == 0 and quantizations(later) == 0


@pytest.mark.slow
def test_openvino_exports_again_for_another_lora_set(
    studio_config: StudioConfig, tiny_model_dir: Path
) -> None:
    pytest.importorskip("openvino")
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(tiny_model_dir, local_files_only=True)
    files.write_kohya(studio_config.models_path / "Lora" / "detail.safetensors", pipe, seed=1)
    engine = Engine(replace(studio_config, backend="openvino"))
    plain = pixels(engine.generate(BASE).images[0].png)
    lora = replace(BASE, prompt="a red circle <lora:detail:1>")
    with_lora = pixels(engine.generate(lora).images[0].png)
    assert len(variants(studio_config, "unet")) == 2  # one export per fused LoRA set
    assert len(variants(studio_config, "vae_decoder")) == 1  # the VAE is not touched by a LoRA
    assert np.abs(with_lora - plain).max() > 20
    engine.config = studio_config
    torch_lora = pixels(engine.generate(lora).images[0].png)
    assert psnr(with_lora, torch_lora) > 30  # the LoRA-fused weights went into the export
    engine.config = replace(studio_config, backend="openvino")
    assert np.array_equal(pixels(engine.generate(BASE).images[0].png), plain)


def test_openvino_refuses_what_it_cannot_run_by_field(studio_config: StudioConfig) -> None:
    engine = Engine(replace(studio_config, backend="openvino", quantize_unet="int8"))
    with pytest.raises(RequestError) as caught:
        engine.check(replace(BASE, width=72, height=96))
    fields = {problem.field for problem in caught.value.problems}
    assert fields == {"width", "height", "quantize_unet"}
    assert "multiple of 64" in str(caught.value)
    from studio.pipeline.backends.openvino import refusals

    assert set(refusals("flux", 64, 64, 64, controlnet=True, quantized=False)) == {"model"}
    assert set(refusals("sd15", 64, 64, 64, controlnet=True, quantized=False)) == {"controlnet_units"}
    assert refusals("sdxl", 96, 160, 32, controlnet=False, quantized=False) == {}


def test_missing_openvino_runs_on_torch_and_says_so(
    studio_config: StudioConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` fails as when not installed
    engine = Engine(replace(studio_config, backend="openvino"))
    result = engine.generate(replace(BASE, steps=2))
    assert len(result.images) == 1
    assert len(result.warnings) == 1 and "openvino is not installed" in result.warnings[0]
    assert "ran on torch" in result.warnings[0]


@pytest.mark.slow
def test_missing_nncf_runs_openvino_in_its_own_precision_and_says_so(
    studio_config: StudioConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openvino")
    monkeypatch.setitem(sys.modules, "nncf", None)  # `import nncf` fails as when not installed
    engine = Engine(replace(studio_config, backend="openvino", openvino_int8=True))
    result = engine.generate(replace(BASE, steps=2))
    assert len(result.images) == 1 and result.runtime["backend"]["used"] == "openvino"
    assert result.runtime["backend"]["openvino_int8"] is False
    assert len(result.warnings) == 1 and result.warnings[0].startswith("openvino_int8: nncf is not installed")
    assert quantizations(engine) == 0


def test_int8_calibration_inputs_are_the_same_every_time() -> None:
    from studio.pipeline.backends.openvino_int8 import calibration_inputs

    sd = (np.zeros((2, 4, 8, 8)), np.zeros(()), np.zeros((2, 77, 32)))
    texts = [(np.full((2, 77, 32), 1.0, np.float32),), (np.full((2, 77, 32), 2.0, np.float32),)]
    first, again = calibration_inputs(sd, texts, 4), calibration_inputs(sd, texts, 4)
    assert all(
        np.array_equal(a, b)
        for left, right in zip(first, again, strict=True)
        for a, b in zip(left, right, strict=True)
    )
    assert [float(items[1]) for items in first] == [999.0, 666.0, 333.0, 0.0]
    assert [float(items[2][0, 0, 0]) for items in first] == [1.0, 2.0, 1.0, 2.0]  # the texts in turn
    assert first[0][0].shape == (2, 4, 8, 8) and not np.array_equal(first[0][0], first[1][0])
    sdxl = (*sd, np.zeros((2, 64)), np.zeros((2, 6)))
    pooled = [(texts[0][0], np.ones((2, 64), np.float32))]
    items = calibration_inputs(sdxl, pooled, 1)[0]
    assert items[3].shape == (2, 64) and items[4].tolist() == [[64, 64, 0, 0, 64, 64]] * 2


def test_backend_and_quantization_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"data_dir": tmp_path, "backend": "tensorrt"})
    assert caught.value.field == "backend" and "auto, torch, openvino" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load_config({"data_dir": tmp_path, "quantize_text_encoder": "fp4"})
    assert caught.value.field == "quantize_text_encoder"
    config = load_config({"data_dir": tmp_path}, environ={"ATELIER_QUANTIZE_UNET": "int4"})
    assert config.quantize_unet == "int4" and config.backend == "auto"
    assert not config.torch_compile and not config.channels_last


def quantized_types(module: Any) -> set[str]:
    return {type(parameter).__name__ for parameter in module.parameters()}


@pytest.mark.slow
def test_quantized_components_run_close_to_fp32_and_switch_back(
    studio_config: StudioConfig, tiny_model_dir: Path
) -> None:
    pytest.importorskip("optimum.quanto")
    pytest.importorskip("torchao")
    from diffusers import StableDiffusionPipeline

    from studio.pipeline.quantize import weight_bytes

    pipe = StableDiffusionPipeline.from_pretrained(tiny_model_dir, local_files_only=True)
    files.write_kohya(studio_config.models_path / "Lora" / "detail.safetensors", pipe, seed=1)
    engine = Engine(studio_config)
    reference = pixels(engine.generate(BASE).images[0].png)
    plain_unet_bytes = weight_bytes(engine.cache.get(*_cache_args(engine)).pipe.unet)
    engine.config = replace(studio_config, quantize_unet="int8", quantize_text_encoder="torchao-int8")
    image = pixels(engine.generate(BASE).images[0].png)
    loaded = engine.cache.get(*_cache_args(engine))
    assert "WeightQBytesTensor" in quantized_types(loaded.pipe.unet)
    assert any("Int8" in name for name in quantized_types(loaded.pipe.text_encoder))
    assert weight_bytes(loaded.pipe.unet) < 0.5 * plain_unet_bytes
    assert psnr(image, reference) > 25
    with pytest.raises(RequestError) as caught:  # LoRAs cannot be fused into quantized weights
        engine.check(replace(BASE, prompt="a red circle <lora:detail:1>"))
    assert caught.value.field == "prompt" and "quantized weights (quantize_unet is int8)" in str(caught.value)
    engine.config = studio_config  # back to fp32: the model is loaded again, bit for bit the first
    assert np.array_equal(pixels(engine.generate(BASE).images[0].png), reference)


@pytest.mark.slow
def test_int4_unet_runs(studio_config: StudioConfig) -> None:
    pytest.importorskip("optimum.quanto")
    engine = Engine(replace(studio_config, quantize_unet="int4"))
    result = engine.generate(replace(BASE, steps=2))
    loaded = engine.cache.get(*_cache_args(engine))
    assert "WeightQBitsTensor" in quantized_types(loaded.pipe.unet)
    assert pixels(result.images[0].png).std() > 1  # a picture, not a flat field


# mode -> (its package, the layer type it puts in, the least PSNR against the fp32 image)
LAYER_QUANTIZERS = {
    "sdnq-int8": ("sdnq", "SDNQLinear", 30),
    "sdnq-int4": ("sdnq", "SDNQLinear", 15),
    "bnb-int8": ("bitsandbytes", "Linear8bitLt", 25),
    "bnb-nf4": ("bitsandbytes", "Linear4bit", 15),
}


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(LAYER_QUANTIZERS))
def test_layer_quantizers_quantize_the_unet_and_the_image_stays_close(
    studio_config: StudioConfig, mode: str
) -> None:
    package, layer_type, least_psnr = LAYER_QUANTIZERS[mode]
    pytest.importorskip(package)
    from studio.pipeline.quantize import weight_bytes

    engine = Engine(studio_config)
    reference = pixels(engine.generate(BASE).images[0].png)
    plain_bytes = weight_bytes(engine.cache.get(*_cache_args(engine)).pipe.unet)
    engine.config = replace(studio_config, quantize_unet=mode)
    result = engine.generate(BASE)
    unet = engine.cache.get(*_cache_args(engine)).pipe.unet
    assert layer_type in {type(layer).__name__ for layer in unet.modules()}
    assert weight_bytes(unet) < plain_bytes
    assert psnr(pixels(result.images[0].png), reference) > least_psnr
    assert result.runtime["backend"]["quantize_unet"] == mode  # the result says what ran
    assert result.runtime["backend"]["quantize_text_encoder"] == "none"


def test_sdnq_quantizes_a_text_encoders_big_layers_in_place() -> None:
    """SDNQ leaves layers under 16384 weights alone (the tiny model's text encoder has none
    bigger), so a text encoder with 128-wide layers."""
    pytest.importorskip("sdnq")
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    from studio.pipeline.quantize import quantize_module, weight_bytes

    torch.manual_seed(0)
    config = CLIPTextConfig(
        hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4
    )
    encoder = CLIPTextModel(config).eval()
    ids = torch.randint(0, config.vocab_size, (1, 12))
    with torch.no_grad():
        reference = encoder(ids)[0]
    before = weight_bytes(encoder)
    quantize_module(encoder, "sdnq-int8")
    with torch.no_grad():
        out = encoder(ids)[0]
    assert "SDNQLinear" in {type(layer).__name__ for layer in encoder.modules()}
    assert weight_bytes(encoder) < before
    assert float((out - reference).norm() / reference.norm()) < 0.02


def _cache_args(engine: Engine) -> tuple[Any, ...]:
    entry = engine.registry.find("checkpoint", "tiny")
    return entry, engine.device, dict(engine.config.memory), engine.config.allow_pickle


@pytest.mark.slow
def test_openvino_runs_sdxl_close_to_torch(tmp_path: Path, tiny_family: Any) -> None:
    pytest.importorskip("openvino")
    import shutil

    from tests.helpers import make_studio_config

    config = make_studio_config(tmp_path)
    shutil.copytree(tiny_family("sdxl"), config.models_path / "Diffusers" / "sdxl")
    engine = Engine(config)
    request = replace(BASE, model="sdxl", steps=3, original_width=256, crop_left=16)
    reference = pixels(engine.generate(request).images[0].png)
    engine.config = replace(config, backend="openvino")
    image = pixels(engine.generate(request).images[0].png)
    assert exports(engine) == 2  # the text_time UNet (pooled text and size ids as inputs) and its VAE
    assert psnr(image, reference) > 30
