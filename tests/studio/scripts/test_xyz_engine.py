"""The X/Y/Z plot and the example extension on the real engine with the tiny model."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.config import PROJECT_ROOT, StudioConfig
from studio.progress import GenerationControl, StepInfo
from studio.request import GenerationRequest
from studio.scripts.base import Choices
from studio.scripts.builtin import builtin_scripts
from studio.scripts.builtin.xyz import XYZ_NAME
from studio.scripts.extensions import ExtensionManager
from studio.scripts.manager import ScriptManager

pytest.importorskip("studio.pipeline.engine")  # present once the core branch is merged


@pytest.fixture
def studio(studio_config: StudioConfig, tmp_path: Path):
    from studio.pipeline.engine import Engine

    scripts = ScriptManager()
    for script in builtin_scripts():
        scripts.register(script)
    extensions = ExtensionManager(
        tmp_path / "ext", tmp_path / "ext.json", scripts, [PROJECT_ROOT / "extensions"]
    )
    extensions.load_all()
    engine = Engine(studio_config, hooks=scripts)
    run = scripts.runner(
        engine.generate, outputs_dir=studio_config.outputs_path, choices=lambda: Choices.from_engine(engine)
    )
    return engine, run, studio_config


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


BASE = GenerationRequest(prompt="a red circle", negative_prompt="blue", width=64, height=64, seed=-1, steps=2)
SWEEP = {"x_type": "Steps", "x_values": "1, 2", "y_type": "Sampler", "y_values": "Euler, DDIM"}


@pytest.mark.slow
def test_steps_by_sampler_cells_equal_the_same_requests_run_alone(studio):
    engine, run, config = studio
    steps: list[StepInfo] = []
    request = replace(BASE, scripts={XYZ_NAME: {**SWEEP, "include_lone_images": True}})
    result = run(request, GenerationControl(on_step=steps.append))

    assert not result.interrupted
    grid, cells = result.images[0], result.images[1:]
    assert len(cells) == 4
    seed = cells[0].seed
    assert seed != -1 and {cell.seed for cell in cells} == {seed}  # one seed fixed for all cells
    # progress over the whole sweep: image i of 4
    assert {info.image_count for info in steps} == {4}
    assert sorted({info.image_index for info in steps}) == [0, 1, 2, 3]

    grid_pixels = pixels(grid.png)
    height, width = grid_pixels.shape[:2]
    left, top = width - 2 * 64, height - 2 * 64
    for cell, (sampler, step_count) in zip(
        cells, [("Euler", 1), ("Euler", 2), ("DDIM", 1), ("DDIM", 2)], strict=True
    ):
        alone = engine.generate(
            replace(BASE, seed=seed, subseed=cell.subseed, sampler_name=sampler, steps=step_count),
            GenerationControl(),
        )
        assert np.array_equal(pixels(cell.png), pixels(alone.images[0].png)), (sampler, step_count)
        assert f"Steps: {step_count}" in cell.infotext and f"Sampler: {sampler}" in cell.infotext
        column, row = (0 if step_count == 1 else 1), (0 if sampler == "Euler" else 1)
        crop = grid_pixels[
            top + row * 64 : top + (row + 1) * 64, left + column * 64 : left + (column + 1) * 64
        ]
        assert np.array_equal(crop, pixels(alone.images[0].png))

    assert 'Script: X/Y/Z plot, X Type: Steps, X Values: "1, 2", Y Type: Sampler' in grid.infotext
    saved = Path(grid.path)
    assert saved.parent == config.outputs_path / "xyz-grids"
    assert Image.open(saved).text["parameters"] == grid.infotext
    assert all(cell.path and Path(cell.path).exists() for cell in cells)  # each cell saved by the engine


@pytest.mark.slow
def test_cancel_stops_the_sweep_and_keeps_finished_cells(studio):
    _, run, _ = studio
    control: GenerationControl

    def observe(info: StepInfo) -> None:
        if info.image_index == 1:  # the second cell started: cancel
            control.interrupt()

    control = GenerationControl(on_step=observe)
    request = replace(BASE, save_images=False, scripts={XYZ_NAME: {**SWEEP, "include_lone_images": True}})
    result = run(request, control)
    assert result.interrupted
    assert len(result.images) == 2  # the grid and the one finished cell
    grid = Image.open(io.BytesIO(result.images[0].png)).convert("RGB")
    assert grid.getpixel((grid.width - 64 + 10, grid.height - 2 * 64 + 10)) == (
        200,
        200,
        200,
    )  # unfinished cell


@pytest.mark.slow
def test_the_caption_stamp_extension_runs_inside_the_engine(studio):
    engine, run, _ = studio
    stamp = {"Caption stamp": {"text": "draft", "prompt_prefix": "flat", "position": "top-left"}}
    plain = engine.generate(replace(BASE, seed=5, save_images=False), GenerationControl())
    stamped = engine.generate(replace(BASE, seed=5, save_images=False, scripts=stamp), GenerationControl())
    assert "Caption stamp: draft" in stamped.images[0].infotext
    assert stamped.images[0].infotext.startswith("flat a red circle")
    assert not np.array_equal(pixels(plain.images[0].png), pixels(stamped.images[0].png))

    stop = {"Caption stamp": {"text": "", "stop_after_steps": 1}}
    steps: list[StepInfo] = []
    stopped = engine.generate(
        replace(BASE, steps=3, save_images=False, scripts=stop), GenerationControl(steps.append)
    )
    assert stopped.interrupted and [info.step for info in steps] == [1]

    # always-on scripts apply inside every X/Y/Z cell too
    sweep = {**stamp, XYZ_NAME: {"x_type": "CFG Scale", "x_values": "5, 9", "include_lone_images": True}}
    result = run(replace(BASE, steps=2, save_images=False, scripts=sweep), GenerationControl())
    assert all("Caption stamp: draft" in image.infotext for image in result.images)
