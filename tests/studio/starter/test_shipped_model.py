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
def test_colour_background_and_position_follow_the_prompt(engine) -> None:
    # The quick subset of bench/starter_eval.py at the studio's defaults (Euler a, 20 steps,
    # CFG 7): the shipped weights get 8/8, 8/8 and 10/10; one miss each is allowed for float
    # differences between machines. (The weights shipped before the clean run got 2/8 colours.)
    report = evaluate(generate_with(engine, steps=20), build_cases(quick=True))
    assert report.count("colour") == 8 and report.count("position") == 10
    assert report.rate("colour") >= 7 / 8, report.failures("colour")
    assert report.rate("background") >= 7 / 8, report.failures("background")
    assert report.rate("position") >= 9 / 10, report.failures("position")


@pytest.mark.slow
def test_inpaint_redraws_only_the_masked_shape_in_the_prompt_colour(engine) -> None:
    from studio.progress import GenerationControl
    from studio.request import GenerationRequest
    from studio.starter.dataset import Scene, read_image, render
    from studio.ui.images import png_bytes

    scene = Scene("circle", "red", "blue", "large", "left", (0.3, 0.5), 0.0, True, True)
    source = render(scene)
    mask = Image.new("L", source.size, 0)
    mask.paste(255, (2, 14, 36, 50))  # the circle and a margin round it
    recoloured = []
    for seed in range(3):
        request = GenerationRequest(
            prompt="a large yellow circle on the left, blue background",
            seed=seed,
            steps=12,
            width=64,
            height=64,
            init_images=(png_bytes(source),),
            mask=png_bytes(mask),
            mask_blur=0,
            denoising_strength=1.0,
            save_images=False,
        )
        result = engine.generate(request, GenerationControl())
        image = Image.open(io.BytesIO(result.images[0].png)).convert("RGB")
        reading = read_image(image)
        # outside the mask the picture is the source's (the right half stays blue)
        assert read_image(image.crop((40, 0, 64, 64))).colour is None
        assert reading.background == "blue"
        recoloured.append(reading.colour == "yellow")
    assert sum(recoloured) >= 2, recoloured


def test_model_card_names_the_vocabulary() -> None:
    from studio.starter.dataset import COLOURS, SHAPES

    card = (STARTER / "README.md").read_text()
    assert all(word in card for word in [*COLOURS, *SHAPES])
    assert Path(STARTER / "sample-grid.png").exists()
