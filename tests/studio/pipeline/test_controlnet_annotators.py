"""Model-based ControlNet preprocessors: the lineart and HED networks with random weights saved
where sd-webui-controlnet keeps them, run as preprocessors, in /controlnet/detect's function and in
a generation; a missing file is named."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio.config import StudioConfig
from studio.controlnet import annotators, preprocessors
from studio.controlnet.units import ControlNetUnit
from studio.infotext import parse_infotext
from studio.pipeline.engine import Engine
from studio.request import GenerationRequest, RequestError
from tests.studio.pipeline.controlnet_files import shapes_png, write_tiny_controlnet


def _save(network: torch.nn.Module, path: Path) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file({key: value.contiguous() for key, value in network.state_dict().items()}, str(path))
    else:
        torch.save(network.state_dict(), str(path))
    return path


def write_lineart(
    annotators_dir: Path, suffix: str = ".safetensors", name: str = "sk_model"
) -> torch.nn.Module:
    torch.manual_seed(0)
    network = annotators.lineart_network()
    _save(network, annotators_dir / "lineart" / f"{name}{suffix}")
    return network.eval()


def write_hed(annotators_dir: Path) -> torch.nn.Module:
    torch.manual_seed(1)
    network = annotators.hed_network()
    _save(network, annotators_dir / "hed" / "ControlNetHED.safetensors")
    return network.eval()


def picture() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))


def test_the_networks_have_sd_webui_controlnet_s_layout() -> None:
    lineart = set(annotators.lineart_network().state_dict())
    assert {"model0.1.weight", "model1.3.bias", "model2.2.conv_block.5.weight", "model3.3.weight"} <= lineart
    assert "model4.1.weight" in lineart and len(lineart) == 24
    hed = set(annotators.hed_network().state_dict())
    assert {"norm", "block1.convs.0.weight", "block5.convs.2.bias", "block5.projection.weight"} <= hed
    assert len(hed) == 1 + 2 * (2 + 2 + 3 + 3 + 3) + 2 * 5


def test_missing_weights_are_named(tmp_path: Path) -> None:
    with pytest.raises(
        RequestError, match=r"lineart/sk_model\.pth \(expected at .*annotators/lineart/sk_model\.pth"
    ):
        preprocessors.run("lineart_realistic", picture(), 64, -1, -1, tmp_path / "annotators")
    with pytest.raises(RequestError, match=r"zoedepth/ZoeD_M12_N\.pt.*cannot run this one yet"):
        preprocessors.run("depth_zoe", picture(), 64, -1, -1, tmp_path / "annotators")
    write_lineart(tmp_path / "annotators", ".pth")
    with pytest.raises(RequestError, match="--allow-pickle") as caught:
        preprocessors.run("lineart_realistic", picture(), 64, -1, -1, tmp_path / "annotators", "unit.module")
    assert caught.value.field == "unit.module"


def test_lineart_runs_the_file_s_weights(tmp_path: Path) -> None:
    folder = tmp_path / "annotators"
    network = write_lineart(folder, ".pth")
    out = preprocessors.run("lineart_realistic", picture(), 64, -1, -1, folder, allow_pickle=True)
    assert out.mode == "RGB" and out.size == (88, 64)  # short side at the resolution, multiples of 8
    source = preprocessors.resize_short_side(picture(), 64)
    tensor = torch.from_numpy(np.asarray(source, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    with torch.no_grad():
        expected = 255 - (network(tensor)[0, 0].numpy() * 255.0).clip(0, 255).astype(np.uint8)
    assert np.abs(np.asarray(out.convert("L")).astype(int) - expected.astype(int)).max() <= 1
    # the safetensors twin is read without --allow-pickle; coarse has its own file
    write_lineart(folder, ".safetensors")
    assert preprocessors.run("lineart_realistic", picture(), 64, -1, -1, folder).size == (88, 64)
    with pytest.raises(RequestError, match="sk_model2"):
        preprocessors.run("lineart_coarse", picture(), 64, -1, -1, folder)


def test_hed_and_hedsafe(tmp_path: Path) -> None:
    folder = tmp_path / "annotators"
    write_hed(folder)
    soft = np.asarray(preprocessors.run("softedge_hed", picture(), 64, -1, -1, folder).convert("L"))
    safe = np.asarray(preprocessors.run("softedge_hedsafe", picture(), 64, -1, -1, folder).convert("L"))
    assert soft.shape == safe.shape == (64, 88)
    assert len(np.unique(soft)) > 3 and set(np.unique(safe).tolist()) <= {0, 127, 255}
    scribbled = preprocessors.run("scribble_hed", picture(), 64, -1, -1, folder)
    soft_image = preprocessors.run("softedge_hed", picture(), 64, -1, -1, folder)
    assert np.array_equal(np.asarray(scribbled), np.asarray(annotators.scribble(soft_image)))
    # a file of another network is refused, naming it
    (folder / "lineart").mkdir()
    (folder / "hed" / "ControlNetHED.safetensors").rename(folder / "lineart" / "sk_model.safetensors")
    with pytest.raises(RequestError, match=r"sk_model\.safetensors is not a lineart annotator"):
        preprocessors.run("lineart_realistic", picture(), 64, -1, -1, folder)


@pytest.mark.slow
def test_a_generation_with_a_lineart_unit(studio_config: StudioConfig, tiny_model_dir: Path) -> None:
    write_tiny_controlnet(tiny_model_dir, studio_config.models_path)
    engine = Engine(studio_config)
    request = GenerationRequest(prompt="red circle", seed=3, steps=3, width=64, height=64, save_images=False)
    unit = ControlNetUnit(image=shapes_png(), module="lineart_realistic", model="tiny_canny").to_json()
    with pytest.raises(RequestError, match=r"controlnet\.args\[0\]\.module.*sk_model\.pth"):
        engine.check(replace(request, controlnet_units=(unit,)))
    write_lineart(studio_config.models_path / "ControlNet" / "annotators")
    result = engine.generate(replace(request, controlnet_units=(unit,)))
    assert "Module: lineart_realistic" in parse_infotext(result.images[0].infotext)["ControlNet 0"]


@pytest.mark.slow
def test_lineart_anime_runs_the_u_net(tmp_path: Path) -> None:
    """The full-size U-Net (54 M parameters, as netG.pth), random weights."""
    folder = tmp_path / "annotators"
    torch.manual_seed(2)
    network = annotators.anime_lineart_network().eval()
    keys = set(network.state_dict())
    assert {"model.model.0.weight", "model.model.1.model.1.weight", "model.model.3.bias"} <= keys
    _save(network, folder / "lineart_anime" / "netG.safetensors")
    out = preprocessors.run("lineart_anime", picture(), 64, -1, -1, folder)
    assert out.mode == "RGB" and out.size == (88, 64)
    source = preprocessors.resize_short_side(picture(), 64).resize((256, 256), Image.Resampling.BICUBIC)
    tensor = torch.from_numpy(np.asarray(source, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
    with torch.no_grad():
        line = (network(tensor)[0, 0].numpy() * 127.5 + 127.5).clip(0, 255).astype(np.uint8)
    expected = 255 - np.asarray(Image.fromarray(line).resize((88, 64), Image.Resampling.BICUBIC)).astype(int)
    assert np.abs(np.asarray(out.convert("L")).astype(int) - expected).max() <= 1
