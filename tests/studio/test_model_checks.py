"""The model file checks: a truncated safetensors file is found by its header, and remembered
checks are made again when the files change."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest

from studio import model_checks
from studio.model_checks import ModelProblems, model_file_problem


def write_safetensors(path: Path, length: int = 16) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * length)


def test_remembered_checks_read_a_header_once_and_again_when_the_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "model.safetensors"
    write_safetensors(model)
    reads: list[Path] = []
    real = model_checks.safetensors_problem
    monkeypatch.setattr(model_checks, "safetensors_problem", lambda path: reads.append(path) or real(path))
    problems = ModelProblems()
    assert problems.problem(model, kind="checkpoint", allow_pickle=False) is None
    assert problems.problem(model, kind="checkpoint", allow_pickle=False) is None
    assert len(reads) == 1  # the second answer was remembered
    write_safetensors(model, length=8)  # truncated: another size
    found = problems.problem(model, kind="checkpoint", allow_pickle=False)
    assert found is not None and "truncated" in found and len(reads) == 2
    assert found == model_file_problem(model, kind="checkpoint", allow_pickle=False)
    model.unlink()
    assert "missing" in (problems.problem(model, kind="checkpoint", allow_pickle=False) or "")


def test_a_folder_is_checked_again_when_one_of_its_files_changes(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text("{}", encoding="utf-8")
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    write_safetensors(weights)
    problems = ModelProblems()
    assert problems.problem(folder, kind="checkpoint", allow_pickle=False) is None
    write_safetensors(weights, length=8)
    os.utime(weights, ns=(1, 1))  # another size and time
    found = problems.problem(folder, kind="checkpoint", allow_pickle=False)
    assert found is not None and found.startswith("unet/diffusion_pytorch_model.safetensors: truncated")
