"""Shared fixtures: a tiny real diffusers model built offline, and a studio config around it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from studio.config import StudioConfig
from tests.helpers import make_studio_config


def pytest_configure(config: pytest.Config) -> None:
    """Run torch on one CPU thread in tests (ATELIER_TEST_TORCH_THREADS overrides).

    The tiny models are too small to gain from two threads, and when other processes share
    the cores, torch's thread synchronisation made the pipeline tests ~5x slower (measured:
    113 s vs 19 s for the sampler tests at load average 8 on 2 cores).
    """
    threads = os.environ.get("ATELIER_TEST_TORCH_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(threads))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete tiny StableDiffusionPipeline folder (read it, never write into it)."""
    from studio.pipeline.tiny_model import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-model") / "tiny", seed=0)


@pytest.fixture
def studio_config(tmp_path: Path, tiny_model_dir: Path) -> StudioConfig:
    """A StudioConfig on a fresh data dir whose `models/Diffusers/tiny` holds the tiny model.

    The built-in models folder points at an empty folder so the repository's shipped starter
    model does not show up in tests.
    """
    return make_studio_config(tmp_path, tiny_model_dir)
