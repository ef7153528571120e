"""LoRA / LyCORIS files on the tiny model's real modules: every format applies the weight change
A1111 (and, where it loads them, diffusers + PEFT) applies, and taking them off gives back the
base weights bit for bit."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from studio.pipeline.networks.lora_format import LoraFormatError, read_lora_file
from studio.pipeline.networks.patcher import NetworkApplyError, NetworkPatcher, NetworkUse
from tests.studio.pipeline import network_files as files


def load_tiny(folder: Path) -> Any:
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture
def pipe(tiny_model_dir: Path) -> Any:
    return load_tiny(tiny_model_dir)


def components(pipe: Any) -> dict[str, Any]:
    return {"unet": pipe.unet, "text_encoder": pipe.text_encoder}


def digest(pipe: Any) -> str:
    """SHA-256 over every UNet and text-encoder tensor, names and bytes."""
    h = hashlib.sha256()
    for component in (pipe.unet, pipe.text_encoder):
        for name, tensor in component.state_dict().items():
            h.update(name.encode())
            h.update(tensor.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def use(path: Path, te: float = 1.0, unet: float = 1.0, dyn: int | None = None) -> NetworkUse:
    stat = path.stat()
    return NetworkUse(
        path.stem, read_lora_file(path, False), (str(path), stat.st_size, stat.st_mtime_ns), te, unet, dyn
    )


def weights(pipe: Any) -> dict[str, torch.Tensor]:
    return {
        f"{name}.{key}": tensor.clone()
        for name in ("unet", "text_encoder")
        for key, tensor in getattr(pipe, name).state_dict().items()
    }


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[key] - b[key]).abs().max()) for key in a)


@pytest.mark.parametrize("kind", ["kohya", "locon", "peft"])
def test_lora_locon_and_peft_files_change_weights_exactly_as_diffusers_does(
    kind: str, pipe: Any, tiny_model_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / f"{kind}.safetensors"
    if kind == "peft":
        files.write_peft(path, pipe, seed=3)
    else:
        files.write_kohya(path, pipe, seed=1, convs=kind == "locon")
    patcher = NetworkPatcher()
    assert patcher.apply(components(pipe), [use(path)])
    reference = load_tiny(tiny_model_dir)
    reference.load_lora_weights(str(path), adapter_name="reference")
    reference.fuse_lora(lora_scale=1.0)
    reference.unload_lora_weights()
    base = weights(load_tiny(tiny_model_dir))
    assert max_difference(weights(reference), base) > 0.01  # the LoRA does change the model
    assert max_difference(weights(pipe), weights(reference)) < 1e-6
    assert patcher.fused_layers == len(read_lora_file(path, False).modules)


def test_ldm_block_names_patch_the_same_layers_as_diffusers_names(
    pipe: Any, tiny_model_dir: Path, tmp_path: Path
) -> None:
    ldm_path, same_weights = files.write_ldm(tmp_path / "ldm.safetensors", pipe, seed=5)
    diffusers_path = tmp_path / "diffusers.safetensors"
    save_file(same_weights, str(diffusers_path))
    NetworkPatcher().apply(components(pipe), [use(ldm_path)])
    other = load_tiny(tiny_model_dir)
    NetworkPatcher().apply(components(other), [use(diffusers_path)])
    assert max_difference(weights(pipe), weights(other)) == 0
    assert max_difference(weights(pipe), weights(load_tiny(tiny_model_dir))) > 0.01


def test_loha_lokr_and_full_changes_follow_the_lycoris_formulas(
    pipe: Any, tiny_model_dir: Path, tmp_path: Path
) -> None:
    base = weights(load_tiny(tiny_model_dir))
    layer = "down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q"
    dotted = "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.weight"
    conv = "lora_unet_down_blocks_1_resnets_0_conv1"
    conv_dotted = "unet.down_blocks.1.resnets.0.conv1.weight"
    cases = {
        "loha": files.write_loha(tmp_path / "loha.safetensors", pipe, seed=7),
        "lokr": files.write_lokr(tmp_path / "lokr.safetensors", pipe, seed=8),
        "full": files.write_full(tmp_path / "full.safetensors", pipe, seed=9),
    }
    for kind, path in cases.items():
        fresh = load_tiny(tiny_model_dir)
        NetworkPatcher().apply(components(fresh), [use(path, unet=0.5)])
        state = _load(path)
        key = f"lora_unet_{layer}"
        if kind == "loha":
            expected = (
                (state[f"{key}.hada_w1_a"] @ state[f"{key}.hada_w1_b"])
                * (state[f"{key}.hada_w2_a"] @ state[f"{key}.hada_w2_b"])
                * (2.0 / 4)
            )
            conv_expected = (
                (state[f"{conv}.hada_w1_a"] @ state[f"{conv}.hada_w1_b"])
                * (state[f"{conv}.hada_w2_a"] @ state[f"{conv}.hada_w2_b"])
                * (2.0 / 4)
            ).reshape(base[conv_dotted].shape)
            assert torch.allclose(
                weights(fresh)[conv_dotted], base[conv_dotted] + 0.5 * conv_expected, atol=1e-5
            )
        elif kind == "lokr":
            w2 = state[f"{key}.lokr_w2_a"] @ state[f"{key}.lokr_w2_b"]
            expected = torch.kron(state[f"{key}.lokr_w1"], w2) * (2.0 / 2)
        else:
            expected = state[f"{key}.diff"]
            out = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_out_0"
            bias = "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_out.0.bias"
            assert torch.allclose(weights(fresh)[bias], base[bias] + 0.5 * state[f"{out}.diff_b"], atol=1e-6)
        assert torch.allclose(weights(fresh)[dotted], base[dotted] + 0.5 * expected, atol=1e-5), kind


def _load(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_several_networks_then_other_sets_then_none_restore_every_weight_bit_for_bit(
    pipe: Any, tmp_path: Path
) -> None:
    before = digest(pipe)
    a = files.write_kohya(tmp_path / "a.safetensors", pipe, seed=11, convs=True)
    b = files.write_loha(tmp_path / "b.safetensors", pipe, seed=12)
    c = files.write_full(tmp_path / "c.safetensors", pipe, seed=13)
    patcher = NetworkPatcher()
    assert patcher.apply(components(pipe), [use(a), use(b, 0.5, 0.7), use(c, unet=-0.3)])
    three = digest(pipe)
    assert three != before
    assert not patcher.apply(
        components(pipe), [use(a), use(b, 0.5, 0.7), use(c, unet=-0.3)]
    )  # same set: no work
    assert patcher.apply(components(pipe), [use(b, 1.0, 1.0)])
    assert digest(pipe) not in (before, three)
    assert patcher.apply(components(pipe), [])
    assert digest(pipe) == before
    # weight 0 for both parts touches nothing at all
    assert patcher.apply(components(pipe), [use(a, 0.0, 0.0)]) is False
    assert digest(pipe) == before


def test_text_encoder_and_unet_weights_apply_separately(
    pipe: Any, tmp_path: Path, tiny_model_dir: Path
) -> None:
    path = files.write_kohya(tmp_path / "a.safetensors", pipe, seed=21)
    base = weights(load_tiny(tiny_model_dir))
    NetworkPatcher().apply(components(pipe), [use(path, te=0.0, unet=1.0)])
    now = weights(pipe)
    te_keys = [key for key in base if key.startswith("text_encoder.")]
    unet_keys = [key for key in base if key.startswith("unet.")]
    assert all(torch.equal(now[key], base[key]) for key in te_keys)
    assert any(not torch.equal(now[key], base[key]) for key in unet_keys)


def test_unfused_hooks_give_the_fused_output_and_leave_weights_alone(
    pipe: Any, tiny_model_dir: Path, tmp_path: Path
) -> None:
    path = files.write_kohya(tmp_path / "a.safetensors", pipe, seed=31, convs=True)
    loha = files.write_loha(tmp_path / "b.safetensors", pipe, seed=32)
    fused = load_tiny(tiny_model_dir)
    NetworkPatcher().apply(components(fused), [use(path, 1.0, 0.8), use(loha, 0.5, 0.5)], fuse=True)
    before = digest(pipe)
    hooked = NetworkPatcher()
    hooked.apply(components(pipe), [use(path, 1.0, 0.8), use(loha, 0.5, 0.5)], fuse=False)
    assert digest(pipe) == before and hooked.hooked_layers > 0 and hooked.fused_layers == 0
    generator = torch.Generator().manual_seed(0)
    latents = torch.randn(1, 4, 32, 32, generator=generator)
    ids = torch.tensor([[1, 5, 9, 12] + [0] * 73])
    with torch.no_grad():
        text_f = fused.text_encoder(ids).last_hidden_state
        text_h = pipe.text_encoder(ids).last_hidden_state
        out_f = fused.unet(latents, 10, encoder_hidden_states=text_f).sample
        out_h = pipe.unet(latents, 10, encoder_hidden_states=text_h).sample
    assert torch.allclose(text_f, text_h, atol=1e-4)
    assert torch.allclose(out_f, out_h, atol=1e-3)
    hooked.restore(components(pipe))
    with torch.no_grad():
        plain = pipe.unet(latents, 10, encoder_hidden_states=pipe.text_encoder(ids).last_hidden_state).sample
    assert not torch.allclose(plain, out_h, atol=1e-3)


def test_dyn_uses_only_the_first_ranks(pipe: Any, tiny_model_dir: Path, tmp_path: Path) -> None:
    state = files.kohya_state(pipe, seed=41)
    truncated = {}
    for key, tensor in state.items():
        if key.endswith("lora_down.weight"):
            tensor = torch.cat([tensor[:2], torch.zeros_like(tensor[2:])])
        truncated[key] = tensor
    full_path, cut_path = tmp_path / "full.safetensors", tmp_path / "cut.safetensors"
    save_file(state, str(full_path))
    save_file(truncated, str(cut_path))
    NetworkPatcher().apply(components(pipe), [use(full_path, dyn=2)])
    other = load_tiny(tiny_model_dir)
    NetworkPatcher().apply(components(other), [use(cut_path)])
    assert max_difference(weights(pipe), weights(other)) < 1e-6


@pytest.mark.parametrize(
    ("suffixes", "named"),
    [
        ((".lora_down.weight", ".lora_up.weight", ".dora_scale"), "DoRA"),
        ((".weight", ".on_input"), "(IA)^3"),
        ((".oft_blocks",), "OFT"),
        ((".w_norm", ".b_norm"), "LyCORIS norm"),
        ((".something_else",), "unrecognised keys"),
    ],
)
def test_unsupported_formats_are_refused_by_name(
    suffixes: tuple[str, ...], named: str, tmp_path: Path
) -> None:
    path = tmp_path / "odd.safetensors"
    key = "lora_unet_down_blocks_1_attentions_0_proj_in"
    save_file({key + suffix: torch.ones(2, 2) for suffix in suffixes}, str(path))
    with pytest.raises(
        LoraFormatError,
        match=r"odd\.safetensors.*" + named.replace("(", r"\(").replace(")", r"\)").replace("^", r"\^"),
    ):
        read_lora_file(path, False)


def test_a_lora_for_another_architecture_is_an_error_and_the_model_is_untouched(
    pipe: Any, tmp_path: Path
) -> None:
    state = files.kohya_state(pipe, seed=51)
    state["lora_unet_input_blocks_7_1_transformer_blocks_9_attn1_to_q.lora_down.weight"] = torch.ones(4, 1280)
    state["lora_unet_input_blocks_7_1_transformer_blocks_9_attn1_to_q.lora_up.weight"] = torch.ones(1280, 4)
    path = tmp_path / "sdxl.safetensors"
    save_file(state, str(path))
    before = digest(pipe)
    with pytest.raises(NetworkApplyError, match=r"sdxl.*1 of .* modules match no layer.*input_blocks_7_1"):
        NetworkPatcher().apply(components(pipe), [use(path)])
    assert digest(pipe) == before
    wrong_shape = files.kohya_state(pipe, seed=52)
    key = next(k for k in wrong_shape if k.endswith("lora_up.weight"))
    wrong_shape[key] = torch.ones(wrong_shape[key].shape[0] + 1, wrong_shape[key].shape[1])
    save_file(wrong_shape, str(path))
    patcher = NetworkPatcher()
    with pytest.raises(NetworkApplyError, match="shape"):
        patcher.apply(components(pipe), [use(path)])
    assert digest(pipe) == before and not patcher.active


def test_pickle_loras_need_the_allowance(pipe: Any, tmp_path: Path) -> None:
    path = tmp_path / "old.pt"
    torch.save(files.kohya_state(pipe, seed=61), str(path))
    with pytest.raises(LoraFormatError, match="refusing to load a pickle file"):
        read_lora_file(path, allow_pickle=False)
    assert len(read_lora_file(path, allow_pickle=True).modules) > 10
