"""Helpers shared by the tests (fixtures live in the conftest files and call these)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from studio.config import StudioConfig

MODEL_FOLDERS = ("Stable-diffusion", "Diffusers", "Lora", "VAE", "embeddings")


def make_studio_config(root: Path, tiny_model_dir: Path | None = None, **changes: Any) -> StudioConfig:
    """A StudioConfig on `root/data` with the A1111 model folders, the tiny model (when given) in
    `models/Diffusers/tiny`, and an empty built-in models folder so the repository's shipped
    starter model does not show up unless a test asks for it (`builtin_models_dir=...`), and the
    cost check and the memory policy off unless a test asks for them (`cost_check="warn"`,
    `memory_policy="auto"`), and jobs run in-process (`worker_process=False`)."""
    data_dir = root / "data"
    models = data_dir / "models"
    for sub in MODEL_FOLDERS:
        (models / sub).mkdir(parents=True, exist_ok=True)
    if tiny_model_dir is not None and not (models / "Diffusers" / "tiny").exists():
        shutil.copytree(tiny_model_dir, models / "Diffusers" / "tiny")
    builtin = root / "builtin-models"
    builtin.mkdir(exist_ok=True)
    # cost_check off: the estimate's replay and calibration (~1 s per engine) would add up over
    # the suite; the cost check's own tests turn it on.
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "builtin_models_dir": builtin,
        "model_cache_size": 2,
        "cost_check": "off",
        # jobs on a thread: one engine per test, no worker process to spawn (tests/studio/worker
        # runs the worker process)
        "worker_process": False,
        # the memory policy's estimate replays the model too (~0.5 s on an engine's first job);
        # its own tests turn it on
        "memory_policy": "off",
    }
    values.update(changes)
    return StudioConfig(**values)
