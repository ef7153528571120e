from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.cli.generate import main
from studio.config import PROJECT_ROOT, StudioConfig
from studio.infotext import parse_infotext, read_png_infotext


def test_txt2img_then_img2img_from_the_command_line(
    studio_config: StudioConfig, tmp_path: Path, capsys
) -> None:
    common = ["--data-dir", str(studio_config.data_dir), "--steps", "2", "--width", "64", "--height", "64"]
    out = tmp_path / "out.png"
    code = main(
        [
            "a red circle",
            *common,
            "--seed",
            "1",
            "--sampler",
            "Euler",
            "--scheduler",
            "Karras",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "txt2img-images" in printed and str(out) in printed
    text = read_png_infotext(out.read_bytes())
    assert text is not None and text in printed
    parsed = parse_infotext(text)
    assert parsed["Seed"] == "1" and parsed["Sampler"] == "Euler" and parsed["Schedule type"] == "Karras"
    again = tmp_path / "again.png"
    code = main(
        ["a red circle", *common, "--init-image", str(out), "--strength", "0", "-o", str(again), "--no-save"]
    )
    assert code == 0
    same = [np.asarray(Image.open(p).convert("RGB")) for p in (out, again)]
    assert np.array_equal(*same)


def test_bad_request_exits_2_naming_the_field(studio_config: StudioConfig, capsys) -> None:
    code = main(["x", "--data-dir", str(studio_config.data_dir), "--width", "65"])
    assert code == 2
    assert "width" in capsys.readouterr().err


def test_the_cost_check_refuses_from_the_command_line(
    studio_config: StudioConfig, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATELIER_COST_CHECK", "refuse")
    monkeypatch.setenv("ATELIER_MAX_JOB_SECONDS", "30")
    code = main(
        ["x", "--data-dir", str(studio_config.data_dir), "--width", "512", "--height", "512", "--steps", "50"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "cost_check: estimated" in err and "max_job_seconds=30" in err
    assert not (studio_config.data_dir / "outputs").exists()


@pytest.mark.slow
def test_through_launch_py_on_a_fresh_data_dir(tmp_path: Path) -> None:
    """A data dir with no model at all: the tiny model is built, so a fresh launch works offline."""
    out = tmp_path / "o.png"
    process = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "launch.py"),
            "generate",
            "a cat",
            "--data-dir",
            str(tmp_path / "data"),
            "--steps",
            "1",
            "--width",
            "64",
            "--height",
            "64",
            "--seed",
            "3",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env={"ATELIER_VENV": sys.prefix, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert process.returncode == 0, process.stderr[-2000:]
    assert "Seed: 3" in process.stdout and out.exists()
    starter_shipped = (
        PROJECT_ROOT / "models" / "Diffusers" / "atelier-starter" / "model_index.json"
    ).exists()
    tiny_built = (tmp_path / "data" / "models" / "Diffusers" / "atelier-tiny" / "model_index.json").exists()
    assert tiny_built != starter_shipped
