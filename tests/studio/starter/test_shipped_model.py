"""The shipped starter model follows its prompts (a fast subset of bench/starter_eval.py)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from studio.config import PROJECT_ROOT
from studio.starter.evaluation import build_cases, evaluate
from tests.helpers import make_studio_config

STARTER = PROJECT_ROOT / "models" / "Diffusers" / "atelier-starter"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    """The studio's Engine with only the shipped starter model (selected by default)."""
    from studio.pipeline.engine import Engine

    root = tmp_path_factory.mktemp("starter-data")
    return Engine(make_studio_config(root, builtin_models_dir=STARTER.parent.parent))


def generate_with(engine, steps: int):
    from studio.progress import GenerationControl
    from studio.request import GenerationRequest

    def generate(prompt: str, seed: int) -> Image.Image:
        request = GenerationRequest(
            prompt=prompt, seed=seed, steps=steps, width=64, height=64, save_images=False
        )
        result = engine.generate(request, GenerationControl())
        return Image.open(io.BytesIO(result.images[0].png)).convert("RGB")

    return generate


def test_the_shipped_folder_is_small_safetensors() -> None:
    files = [p for p in STARTER.rglob("*") if p.is_file()]
    weights = [p for p in files if p.suffix in (".safetensors", ".bin", ".ckpt", ".pt")]
    assert {p.parent.name for p in weights} == {"unet", "vae", "text_encoder"}
    assert all(p.suffix == ".safetensors" for p in weights)
    assert sum(p.stat().st_size for p in files) < 20 * 1024 * 1024
    assert (STARTER / "README.md").exists() and (STARTER / "model_index.json").exists()


def test_the_engine_picks_the_starter_by_default(engine) -> None:
    generate_with(engine, steps=2)("a red circle", 0)
    assert engine.current_model is not None and "atelier-starter" in engine.current_model


@pytest.mark.slow
def test_colour_and_background_follow_the_prompt(engine) -> None:
    # Thresholds sit just under what the shipped weights measure on this subset (12 steps:
    # background 100%, colour 25%: seed 0 turns red into orange). Positions are not learnt
    # well enough yet to assert on (see the model card).
    cases = [case for case in build_cases(quick=True) if case.check in ("colour", "background")]
    report = evaluate(generate_with(engine, steps=12), cases)
    assert report.rate("background") >= 0.75, report.failures("background")
    assert report.rate("colour") >= 0.25, report.failures("colour")


def test_model_card_names_the_vocabulary() -> None:
    from studio.starter.dataset import COLOURS, SHAPES

    card = (STARTER / "README.md").read_text()
    assert all(word in card for word in [*COLOURS, *SHAPES])
    assert Path(STARTER / "sample-grid.png").exists()
