"""A tiny ESRGAN (RRDB) upscaler with random weights, saved as safetensors, for tests."""

from __future__ import annotations

from pathlib import Path


def write_tiny_esrgan(models_path: Path, name: str = "tiny-esrgan-2x", scale: int = 2) -> Path:
    import torch
    from safetensors.torch import save_file

    from studio.pipeline.upscalers.models import import_spandrel

    import_spandrel()
    from spandrel.architectures.ESRGAN.__arch.RRDB import RRDBNet

    torch.manual_seed(0)
    network = RRDBNet(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=scale)
    folder = models_path / "ESRGAN"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.safetensors"
    save_file({key: value.contiguous() for key, value in network.state_dict().items()}, str(path))
    return path
