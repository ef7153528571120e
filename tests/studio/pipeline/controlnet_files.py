"""A tiny ControlNet for the tiny SD model, written into `models/ControlNet` as one safetensors
file (diffusers layout, its config beside it as `<stem>.json`)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image, ImageDraw


def write_tiny_controlnet(
    tiny_model_dir: Path, models_path: Path, name: str = "tiny_canny", seed: int = 1
) -> Path:
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel
    from safetensors.torch import save_file

    unet = UNet2DConditionModel.from_pretrained(str(tiny_model_dir / "unet"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # the tiny VAE downsamples by 2, so one strided conv in the hint encoder
        controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32))
        # zero convs start at zero (no effect); give them weights so the unit does something
        for module in [
            *controlnet.controlnet_down_blocks,
            controlnet.controlnet_mid_block,
            controlnet.controlnet_cond_embedding.conv_out,
        ]:
            torch.nn.init.normal_(module.weight, std=0.5)
            torch.nn.init.normal_(module.bias, std=0.1)
    folder = models_path / "ControlNet"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in controlnet.state_dict().items()}, str(path))
    config = {k: v for k, v in dict(controlnet.config).items() if not k.startswith("_")}
    (folder / f"{name}.json").write_text(json.dumps(config))
    return path


def shapes_png(size: int = 64) -> bytes:
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 12, 40, 44), fill="black")
    draw.ellipse((30, 30, 58, 58), outline="black", width=3)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_original_layout(diffusers_file: Path, name: str = "tiny_original") -> Path:
    """The same ControlNet in the original (LDM, `control_model.*`) layout, with its diffusers
    config folder beside it as `<name>.config/`, as the loader takes non-SD-1.x files."""
    from safetensors.torch import load_file, save_file

    from studio.pipeline.single_file_export import UNET_PREFIX, unet_to_ldm

    config = json.loads(diffusers_file.with_suffix(".json").read_text())
    state = load_file(str(diffusers_file))
    levels = len(config["down_block_types"])
    unet_config = {**config, "up_block_types": ["UpBlock2D"] * levels}
    extra = ("controlnet_cond_embedding.", "controlnet_down_blocks.", "controlnet_mid_block.")
    unet_part = {k: v for k, v in state.items() if not k.startswith(extra)}
    out = {
        "control_model." + k[len(UNET_PREFIX) :]: v for k, v in unet_to_ldm(unet_part, unet_config).items()
    }
    for key, value in state.items():
        rest = key.split(".")
        if key.startswith("controlnet_cond_embedding.conv_in."):
            out[f"control_model.input_hint_block.0.{rest[-1]}"] = value
        elif key.startswith("controlnet_cond_embedding.blocks."):
            out[f"control_model.input_hint_block.{2 * (int(rest[2]) + 1)}.{rest[-1]}"] = value
        elif key.startswith("controlnet_cond_embedding.conv_out."):
            out[f"control_model.input_hint_block.14.{rest[-1]}"] = value  # fixed in the original layout
        elif key.startswith("controlnet_down_blocks."):
            out[f"control_model.zero_convs.{rest[1]}.0.{rest[-1]}"] = value
        elif key.startswith("controlnet_mid_block."):
            out[f"control_model.middle_block_out.0.{rest[-1]}"] = value
    path = diffusers_file.with_name(f"{name}.safetensors")
    save_file({k: v.contiguous() for k, v in out.items()}, str(path))
    folder = path.with_suffix(".config")
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"_class_name": "ControlNetModel", **config}))
    return path
