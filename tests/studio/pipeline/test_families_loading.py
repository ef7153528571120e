"""Loading every family from single files, offline: tensor-for-tensor round trips in the
layouts people download, and the errors that name what is missing and where to put it.

Every load here runs with the network blocked (`no_network`: socket connects raise and are
recorded, HF_HUB_OFFLINE=1) and asserts no connection was even attempted.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from studio.pipeline.families.assemble import load_single_file, plan_single_file
from studio.pipeline.families.export import folder_family
from studio.pipeline.families.sources import ModelLoadError
from tests.studio.pipeline.conftest import install_single_file

# (tiny family, layout): each family in the layout it is usually published in, SDXL and Flux in both
ROUND_TRIPS = [
    ("sd15", "all-in-one"),
    ("sdxl", "all-in-one"),
    ("sdxl", "split"),
    ("sdxl-refiner", "all-in-one"),
    ("sd3", "all-in-one"),
    ("sd3", "split"),
    ("flux", "split"),
    ("flux", "all-in-one"),
    ("flux-schnell", "split"),
    ("z-image", "split"),
]


def _reference(folder: Path) -> Any:
    import diffusers

    index = json.loads((folder / "model_index.json").read_text())
    return getattr(diffusers, index["_class_name"]).from_pretrained(folder, local_files_only=True)


@pytest.mark.slow
@pytest.mark.parametrize(("family", "layout"), ROUND_TRIPS)
def test_single_files_load_offline_tensor_for_tensor(
    tmp_path: Path, tiny_family: Any, no_network: list, family: str, layout: str
) -> None:
    folder = tiny_family(family)
    path = install_single_file(folder, tmp_path, family, layout)
    pipe, plan = load_single_file(path, torch.float32, [tmp_path])
    assert no_network == []
    expected_companions = 0 if layout == "all-in-one" else len(plan.family.parts) - 1
    assert len(plan.companion_files) == expected_companions
    reference = _reference(folder)
    for part in folder_family(folder).parts:
        ours, theirs = getattr(pipe, part.name).state_dict(), getattr(reference, part.name).state_dict()
        assert set(ours) == set(theirs), part.name
        for key, tensor in theirs.items():
            assert torch.equal(ours[key], tensor), f"{part.name}.{key}"
    for tokenizer in plan.family.tokenizers:
        text = "a red cat on a blue sea"
        assert (
            getattr(pipe, tokenizer.name)(text).input_ids
            == getattr(reference, tokenizer.name)(text).input_ids
        )


def test_everything_missing_is_named_with_where_to_put_it(
    tmp_path: Path, tiny_family: Any, no_network: list
) -> None:
    """A Flux transformer alone, no text encoders, no VAE, no T5 tokenizer: one error lists
    each missing piece, the file it wants and the folder it goes in, before any weight is read."""
    path = install_single_file(tiny_family("flux"), tmp_path, "flux1-dev", "split", config=False)
    shutil.rmtree(tmp_path / "text_encoder")
    shutil.rmtree(tmp_path / "VAE")
    with pytest.raises(ModelLoadError) as raised:
        plan_single_file(path, [tmp_path])
    message = str(raised.value)
    assert "flux1-dev.safetensors (Flux.1 dev) cannot be loaded offline" in message
    assert "text_encoder: the file has no CLIP ViT-L text encoder (clip_l.safetensors)" in message
    assert "text_encoder_2: the file has no T5-XXL text encoder (t5xxl_fp16.safetensors)" in message
    assert (
        "vae: the file has no Flux VAE (ae.safetensors) and none was found; put one in models/VAE/" in message
    )
    assert "models/text_encoder/ (or models/clip/)" in message
    assert "tokenizer_2: the T5 tokenizer" in message
    assert "put tokenizer.json and tokenizer_config.json in flux1-dev.config/tokenizer_2/" in message
    assert "black-forest-labs/FLUX.1-dev/tokenizer_2" in message
    assert no_network == []


def test_a_tokenizer_comes_from_the_local_hugging_face_cache(
    tmp_path: Path, tiny_family: Any, no_network: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    folder = tiny_family("flux-schnell")
    path = install_single_file(folder, tmp_path / "models", "schnell", "split")
    sibling_tokenizer = path.with_name("schnell.config") / "tokenizer_2"
    shutil.move(sibling_tokenizer, tmp_path / "moved")
    with pytest.raises(ModelLoadError, match="tokenizer_2: the T5 tokenizer"):
        plan_single_file(path, [tmp_path / "models"])
    cache = tmp_path / "hf-cache"
    snapshot = cache / "models--black-forest-labs--FLUX.1-schnell" / "snapshots" / "0123abcd"
    shutil.copytree(tmp_path / "moved", snapshot / "tokenizer_2")
    (cache / "models--black-forest-labs--FLUX.1-schnell" / "refs").mkdir()
    (cache / "models--black-forest-labs--FLUX.1-schnell" / "refs" / "main").write_text("0123abcd")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    pipe, plan = load_single_file(path, torch.float32, [tmp_path / "models"])
    assert plan.tokenizers["tokenizer_2"] == snapshot / "tokenizer_2"
    reference = _reference(folder).tokenizer_2
    assert pipe.tokenizer_2("a red cat").input_ids == reference("a red cat").input_ids
    assert no_network == []


@pytest.mark.slow
def test_fp8_files_load_upcast_plain_and_scaled(tmp_path: Path, tiny_family: Any) -> None:
    """A plain fp8 T5 (`t5xxl_fp8_e4m3fn`) and a ComfyUI "scaled fp8" transformer load: each
    weight is its fp8 value (times its `scale_weight`), in the load dtype; the model generates."""
    from safetensors.torch import load_file

    from studio.pipeline.families.flux_keys import flux_to_diffusers

    path = install_single_file(tiny_family("flux"), tmp_path, "flux", "split")
    t5 = tmp_path / "text_encoder" / "flux-text_encoder_2.safetensors"
    t5_state = load_file(str(t5))
    t5.unlink()
    save_file(
        {k: v.to(torch.float8_e4m3fn) for k, v in t5_state.items()},
        str(tmp_path / "text_encoder" / "t5xxl_fp8_e4m3fn.safetensors"),
    )
    original = load_file(str(path))
    scaled: dict[str, torch.Tensor] = {"scaled_fp8": torch.zeros(2, dtype=torch.float8_e4m3fn)}
    expected: dict[str, torch.Tensor] = {}
    for key, value in original.items():
        if key.endswith(".weight") and value.dim() == 2:
            scale = value.abs().max() / 448.0
            stored = (value / scale).to(torch.float8_e4m3fn)
            scaled[key], scaled[key.removesuffix(".weight") + ".scale_weight"] = stored, scale.reshape(1)
            expected[key] = stored.float() * scale
        else:
            scaled[key] = expected[key] = value
    save_file(scaled, str(path))
    pipe, plan = load_single_file(path, torch.float32, [tmp_path])
    assert plan.parts["text_encoder_2"].path.name == "t5xxl_fp8_e4m3fn.safetensors"
    loaded_t5 = pipe.text_encoder_2.state_dict()
    checked = 0
    for key, value in t5_state.items():
        if key in loaded_t5:
            assert torch.equal(loaded_t5[key], value.to(torch.float8_e4m3fn).float()), key
            checked += 1
    assert checked >= len(t5_state) - 1  # (T5's tied input embedding may be stored once)
    transformer = pipe.transformer.state_dict()
    for key, value in flux_to_diffusers(expected).items():
        assert torch.equal(transformer[key], value.float()), key
    image = pipe("a red cat", num_inference_steps=2, height=64, width=64, output_type="np").images[0]
    assert image.shape == (64, 64, 3) and float(image.std()) > 0


def test_the_companion_of_the_right_width_is_chosen(tmp_path: Path, tiny_family: Any) -> None:
    """SD 3.5 needs two CLIPs: each separate file goes to the part whose width it has,
    whatever its name; a CLIP of another width in the same folder is left alone."""
    path = install_single_file(tiny_family("sd3"), tmp_path, "sd3", "split")
    folder = tmp_path / "text_encoder"
    (folder / "sd3-text_encoder.safetensors").rename(folder / "zz_clip_l.safetensors")
    (folder / "sd3-text_encoder_2.safetensors").rename(folder / "aa_clip_g.safetensors")
    save_file(
        {"text_model.embeddings.position_embedding.weight": torch.zeros(77, 48)},
        str(folder / "b_other.safetensors"),
    )
    plan = plan_single_file(path, [tmp_path])
    assert plan.parts["text_encoder"].path.name == "zz_clip_l.safetensors"
    assert plan.parts["text_encoder_2"].path.name == "aa_clip_g.safetensors"
    assert plan.parts["text_encoder_3"].kind.kind == "t5"
