"""Hires fix's `hr_checkpoint_name` with two tiny checkpoints: the second pass runs on the named
one (A1111's behaviour), an identical copy gives the same pixels, a different one does not."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from studio.config import StudioConfig
from studio.infotext import parse_infotext, request_fields
from studio.pipeline.engine import Engine
from studio.request import GenerationRequest, RequestError
from tests.studio.pipeline.conftest import pixels

BASE = GenerationRequest(
    prompt="a red circle",
    seed=11,
    steps=3,
    width=64,
    height=64,
    enable_hr=True,
    hr_upscaler="Latent",
    hr_second_pass_steps=4,
    denoising_strength=0.75,
)


@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny checkpoint with other random weights."""
    from studio.pipeline.tiny_model import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("other") / "other", seed=1)


@pytest.mark.slow
def test_second_pass_runs_on_the_named_checkpoint(
    studio_config: StudioConfig, tiny_model_dir: Path, other_model_dir: Path
) -> None:
    diffusers = studio_config.models_path / "Diffusers"
    shutil.copytree(other_model_dir, diffusers / "other")
    shutil.copytree(tiny_model_dir, diffusers / "tiny-copy")
    engine = Engine(studio_config)
    request = replace(BASE, model="tiny")
    plain = engine.generate(request).images[0]
    assert "Hires checkpoint" not in plain.infotext
    # the first pass's own checkpoint named: the same as not naming one, no infotext key
    same, _, _ = engine.check(replace(request, hr_checkpoint_name="tiny"))
    assert same.hr_checkpoint_name is None
    copy = engine.generate(replace(request, hr_checkpoint_name="tiny-copy")).images[0]
    assert (pixels(copy.png) == pixels(plain.png)).all()  # same weights, other file: same pixels
    other = engine.generate(replace(request, hr_checkpoint_name="other")).images[0]
    assert (abs(pixels(other.png) - pixels(plain.png))).max() > 10
    assert {Path(path).name for path in engine.cache.loaded_paths()} == {"tiny", "other"}
    params = parse_infotext(other.infotext)
    assert params["Hires checkpoint"] == "other" and params["Model"] == "tiny"
    assert request_fields(params)["hr_checkpoint_name"] == "other"
    # the infotext makes the same image again
    again = engine.generate(replace(request, **{"hr_checkpoint_name": "other"})).images[0]
    assert (pixels(again.png) == pixels(other.png)).all()
    # the other checkpoint's own hires pass differs from this one (the first pass stays on tiny)
    own = engine.generate(replace(BASE, model="other")).images[0]
    assert (abs(pixels(own.png) - pixels(other.png))).max() > 10


def test_unusable_hires_checkpoints_are_named(studio_config: StudioConfig) -> None:
    engine = Engine(studio_config)
    with pytest.raises(RequestError) as caught:
        engine.check(replace(BASE, hr_checkpoint_name="missing", hr_upscaler="Bogus"))
    assert {problem.field for problem in caught.value.problems} == {"hr_checkpoint_name", "hr_upscaler"}
