"""Shared fixtures: a tiny real diffusers model built offline, and a studio config around it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from studio.config import StudioConfig


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete tiny StableDiffusionPipeline folder (read it, never write into it)."""
    from studio.pipeline.tiny import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-model") / "tiny", seed=0)


@pytest.fixture
def studio_config(tmp_path: Path, tiny_model_dir: Path) -> StudioConfig:
    """A StudioConfig on a fresh data dir whose `models/Diffusers/tiny` holds the tiny model.

    The built-in models folder points at an empty folder so the repository's shipped starter
    model does not show up in tests.
    """
    data_dir = tmp_path / "data"
    models = data_dir / "models"
    for sub in ("Stable-diffusion", "Diffusers", "Lora", "VAE", "embeddings"):
        (models / sub).mkdir(parents=True, exist_ok=True)
    shutil.copytree(tiny_model_dir, models / "Diffusers" / "tiny")
    builtin = tmp_path / "builtin-models"
    builtin.mkdir()
    return StudioConfig(data_dir=data_dir, builtin_models_dir=builtin, model_cache_size=2)
