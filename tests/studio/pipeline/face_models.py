"""Face restoration fixtures: GFPGAN and CodeFormer networks of the real architectures with
random weights, saved as safetensors where the studio looks for them, and a drawn face that
OpenCV's frontal-face cascade finds."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _save(network: Any, path: Path) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({key: value.contiguous() for key, value in network.state_dict().items()}, str(path))
    return path


def write_tiny_gfpgan(models_path: Path, name: str = "tiny-gfpgan") -> Path:
    """spandrel's GFPGANv1Clean at 64 px and 1/8 of the widths (0.75 M parameters)."""
    import torch

    from studio.pipeline.upscalers.models import import_spandrel

    import_spandrel()
    from spandrel.architectures.GFPGAN import GFPGAN

    torch.manual_seed(0)
    network = GFPGAN(out_size=64, num_style_feat=32, channel_multiplier=1, narrow=0.125, num_mlp=2)
    return _save(network, models_path / "GFPGAN" / f"{name}.safetensors")


def write_random_codeformer(models_path: Path, name: str = "random-codeformer") -> Path:
    """spandrel_extra_arches' CodeFormer: its 512 px autoencoder is fixed by the architecture
    (74 M parameters); the transformer is made small (64 wide, one layer, 64 codes)."""
    import torch

    from studio.pipeline.upscalers.models import import_spandrel

    import_spandrel()
    from spandrel_extra_arches.architectures.CodeFormer import CodeFormer

    torch.manual_seed(0)
    network = CodeFormer(dim_embd=64, n_head=2, n_layers=1, codebook_size=64)
    return _save(network, models_path / "Codeformer" / f"{name}.safetensors")


def drawn_face(size: int = 128) -> Any:
    """A cartoon face (skin oval, brows, eyes, nose, mouth), blurred a little."""
    from PIL import Image, ImageDraw, ImageFilter

    image = Image.new("RGB", (size, size), (90, 110, 140))
    draw = ImageDraw.Draw(image)
    s = size / 256
    draw.ellipse([60 * s, 30 * s, 196 * s, 220 * s], fill=(225, 185, 160))
    for cx in (98, 158):
        draw.ellipse([(cx - 20) * s, 70 * s, (cx + 20) * s, 84 * s], fill=(70, 40, 30))
        draw.ellipse([(cx - 16) * s, 92 * s, (cx + 16) * s, 112 * s], fill=(245, 245, 245))
        draw.ellipse([(cx - 8) * s, 94 * s, (cx + 8) * s, 110 * s], fill=(40, 25, 20))
    draw.polygon([(128 * s, 105 * s), (116 * s, 150 * s), (140 * s, 150 * s)], fill=(200, 150, 130))
    draw.ellipse([100 * s, 165 * s, 156 * s, 185 * s], fill=(150, 60, 60))
    return image.filter(ImageFilter.GaussianBlur(3 * s))


def face_scene() -> Any:
    """A 256x192 picture with one face (128 px) at (100, 30)."""
    from PIL import Image

    scene = Image.new("RGB", (256, 192), (90, 110, 140))
    scene.paste(drawn_face(128), (100, 30))
    return scene
