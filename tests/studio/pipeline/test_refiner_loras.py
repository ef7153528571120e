"""The prompt's LoRAs on the SDXL refiner (as A1111 / Forge reapply them): applied to a refiner
whose layers they fit (an SDXL model used as the refiner), skipped with a named warning and an
infotext entry where they do not (the SDXL refiner's own architecture), and the refiner's
weights put back bit for bit after the job. Tiny models, 64x64, a few steps."""

from __future__ import annotations

import shutil
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch

from studio.infotext import parse_infotext
from studio.pipeline.engine import Engine
from studio.pipeline.families.tiny import build_tiny_family
from studio.request import GenerationRequest
from tests.helpers import make_studio_config
from tests.studio.pipeline.conftest import pixels
from tests.studio.pipeline.family_network_files import write_kohya_family_lora

REQUEST = GenerationRequest(
    prompt="a red cat <lora:xl:1>",
    negative_prompt="blue",
    seed=5,
    steps=4,
    width=64,
    height=64,
    sampler_name="Euler",
    save_images=False,
    model="sdxl",
    refiner_switch_at=0.5,
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, tiny_family: Any) -> Engine:
    root = tmp_path_factory.mktemp("refiner-loras")
    config = make_studio_config(root, model_cache_size=3)
    diffusers = config.models_path / "Diffusers"
    shutil.copytree(tiny_family("sdxl"), diffusers / "sdxl")
    shutil.copytree(tiny_family("sdxl-refiner"), diffusers / "sdxl-refiner")
    build_tiny_family("sdxl", diffusers / "sdxl-other", seed=3)  # another SDXL model, as the refiner
    write_kohya_family_lora(config.models_path / "Lora" / "xl.safetensors", tiny_family("sdxl"), "sdxl", 1)
    return Engine(config)


def _weights(pipe: Any) -> dict[str, torch.Tensor]:
    modules = {"unet": pipe.unet, "text_encoder_2": pipe.text_encoder_2}
    if getattr(pipe, "text_encoder", None) is not None:
        modules["text_encoder"] = pipe.text_encoder
    return {
        f"{name}.{key}": value.clone()
        for name, module in modules.items()
        for key, value in module.state_dict().items()
    }


def _watch(pipe: Any, before: dict[str, torch.Tensor]) -> list[bool]:
    """Whether the refiner's UNet ran with weights other than `before` (one entry per call)."""
    seen: list[bool] = []

    def record(module: Any, args: Any) -> None:
        now = module.state_dict()
        seen.append(any(not torch.equal(now[key], before[f"unet.{key}"]) for key in now))

    pipe.unet.register_forward_pre_hook(record)
    return seen


def _refiner(engine: Engine, name: str) -> Any:
    return engine.cache.get(engine.registry.find("checkpoint", name), engine.device, {}, False)


def test_a_lora_that_fits_the_refiner_is_applied_to_it_and_taken_off_after(engine: Engine) -> None:
    refiner = _refiner(engine, "sdxl-other")
    before = _weights(refiner.pipe)
    seen = _watch(refiner.pipe, before)
    with_lora = engine.generate(replace(REQUEST, refiner_checkpoint="sdxl-other"))
    assert seen and all(seen)  # every refiner step ran with the LoRA on
    after = _weights(refiner.pipe)
    assert all(torch.equal(after[key], before[key]) for key in before)  # bit for bit
    assert not with_lora.warnings
    assert "Refiner LoRAs skipped" not in parse_infotext(with_lora.images[0].infotext)
    seen.clear()
    plain = engine.generate(replace(REQUEST, prompt="a red cat", refiner_checkpoint="sdxl-other"))
    assert seen and not any(seen)
    assert not np.array_equal(pixels(plain.images[0].png), pixels(with_lora.images[0].png))
    # the LoRA at weight 0 on both: the plain picture
    zero = engine.generate(replace(REQUEST, prompt="a red cat <lora:xl:0>", refiner_checkpoint="sdxl-other"))
    assert np.array_equal(pixels(zero.images[0].png), pixels(plain.images[0].png))


def test_a_lora_that_does_not_fit_the_refiner_is_skipped_and_named(engine: Engine) -> None:
    refiner = _refiner(engine, "sdxl-refiner")
    before = _weights(refiner.pipe)
    seen = _watch(refiner.pipe, before)
    result = engine.generate(replace(REQUEST, refiner_checkpoint="sdxl-refiner"))
    assert seen and not any(seen)  # the refiner ran as loaded
    after = _weights(refiner.pipe)
    assert all(torch.equal(after[key], before[key]) for key in before)
    assert len(result.warnings) == 1, result.warnings
    assert (
        "LoRA 'xl' is not applied to the refiner sdxl-refiner: it does not fit its layers"
        in result.warnings[0]
    )
    fields = parse_infotext(result.images[0].infotext)
    assert fields["Refiner LoRAs skipped"] == "xl" and "Lora hashes" in fields
    # the base model still took the LoRA
    plain = engine.generate(replace(REQUEST, prompt="a red cat", refiner_checkpoint="sdxl-refiner"))
    assert not np.array_equal(pixels(plain.images[0].png), pixels(result.images[0].png))


def test_a_lora_whose_layers_exist_with_other_widths_does_not_fit(engine: Engine, tmp_path) -> None:
    """The UNet half of an SDXL LoRA: its layer names exist in the refiner, not its widths."""
    from safetensors.torch import load_file, save_file

    from studio.pipeline.networks.lora_format import read_lora_file
    from studio.pipeline.networks.patcher import NetworkUse
    from studio.pipeline.networks.refiner_loras import mismatch

    state = load_file(str(engine.config.models_path / "Lora" / "xl.safetensors"))
    path = tmp_path / "unet-only.safetensors"
    save_file({key: value for key, value in state.items() if key.startswith("lora_unet_")}, str(path))
    use = NetworkUse("unet-only", read_lora_file(path, False), (str(path), 0, 0), 1.0, 1.0)
    refiner = _refiner(engine, "sdxl-refiner").pipe
    reason = mismatch({"unet": refiner.unet, "text_encoder_2": refiner.text_encoder_2}, use)
    assert reason is not None and "do not fit the layer's shape" in reason
    other = _refiner(engine, "sdxl-other").pipe
    assert mismatch({"unet": other.unet, "text_encoder_2": other.text_encoder_2}, use) is None
