from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.config import StudioConfig
from studio.pipeline.engine import Engine


@pytest.fixture
def engine(studio_config: StudioConfig) -> Engine:
    return Engine(studio_config)


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def png_of(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def tiny_family(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Build (once per session) and return the tiny diffusers folder of a family
    (`studio.pipeline.families.tiny.TINY_FAMILIES`); read it, never write into it."""
    from studio.pipeline.families.tiny import build_tiny_family

    built: dict[str, Path] = {}

    def get(family: str) -> Path:
        if family not in built:
            built[family] = build_tiny_family(family, tmp_path_factory.mktemp(family) / family)
        return built[family]

    return get


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Block every network connection (and tell Hugging Face libraries they are offline);
    returns the attempts, which a test asserts stay empty (a caught failure still counts)."""
    import socket

    attempts: list[tuple] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append((self.family, address))
        raise OSError(f"network blocked in this test: connect to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    return attempts


def install_single_file(
    folder: Path, models: Path, name: str, layout: str = "all-in-one", config: bool = True
) -> Path:
    """Export tiny diffusers `folder` into the A1111 layout under `models`: one all-in-one file in
    Stable-diffusion/, or ("split") the denoiser there and each other part in text_encoder/ or
    VAE/. `config`: write `<name>.config/` (the tiny configs and tokenizers) beside it."""
    from studio.pipeline.families.export import export_all_in_one, export_split, folder_family
    from studio.pipeline.single_file_export import write_config_folder

    output = models / "Stable-diffusion" / f"{name}.safetensors"
    if layout == "all-in-one":
        export_all_in_one(folder, output)
    else:
        family = folder_family(folder)
        companions = {
            part.name: models
            / ("VAE" if part.kind == "vae" else "text_encoder")
            / f"{name}-{part.name}.safetensors"
            for part in family.parts
            if part is not family.denoiser
        }
        export_split(folder, output, companions)
    if config:
        write_config_folder(folder, output.with_name(f"{name}.config"))
    return output
