from __future__ import annotations

import io

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
