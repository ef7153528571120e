from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from studio.infotext import parse_infotext, read_png_infotext
from studio.pipeline.engine import Engine
from studio.progress import GenerationControl, StepInfo
from studio.request import GenerationRequest, RequestError
from tests.studio.pipeline.conftest import pixels

BASE = GenerationRequest(prompt="a red circle", seed=7, steps=3, width=64, height=64, cfg_scale=7)


def test_txt2img_saves_png_with_infotext_and_history(engine: Engine) -> None:
    steps: list[StepInfo] = []
    result = engine.generate(BASE, GenerationControl(on_step=steps.append))
    assert len(result.images) == 1
    record = result.images[0]
    assert record.seed == 7
    assert record.path is not None
    path = Path(record.path)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", path.parent.name)
    assert path.parent.parent.name == "txt2img-images"
    assert path.name == "00000-7.png"
    assert path.read_bytes() == record.png
    text = read_png_infotext(record.png)
    assert text == record.infotext
    parsed = parse_infotext(text)
    assert parsed["Seed"] == "7" and parsed["Sampler"] == "Euler a" and parsed["Size"] == "64x64"
    assert parsed["Model"] == "tiny" and len(parsed["Model hash"]) == 10
    assert [s.step for s in steps] == [1, 2, 3] and all(s.steps == 3 for s in steps)
    assert engine.history.count() == 1
    entry = engine.history.list()[0]
    assert entry.seed == 7 and entry.path == record.path and entry.infotext == record.infotext
    assert set(result.timings) >= {"load", "denoise", "save", "total"}
    assert result.peak_memory_bytes > 0
    assert engine.current_model is not None and engine.current_model.startswith("tiny [")


def test_same_seed_same_image_and_next_file_number(engine: Engine) -> None:
    first = engine.generate(BASE, GenerationControl())
    second = engine.generate(BASE, GenerationControl())
    assert np.array_equal(pixels(first.images[0].png), pixels(second.images[0].png))
    assert Path(second.images[0].path).name == "00001-7.png"
    other = engine.generate(replace(BASE, seed=8, save_images=False), GenerationControl())
    assert other.images[0].path is None
    assert np.abs(pixels(other.images[0].png) - pixels(first.images[0].png)).max() > 10


def test_batch_image_i_uses_seed_plus_i(engine: Engine) -> None:
    batch = engine.generate(replace(BASE, batch_size=2, n_iter=2, save_images=False), GenerationControl())
    assert batch.seeds == [7, 8, 9, 10]
    alone = engine.generate(replace(BASE, seed=9, save_images=False), GenerationControl())
    # Image 2 of the batch (seed 9) equals seed 9 generated alone; float batching may move a pixel by 1.
    assert np.abs(pixels(batch.images[2].png) - pixels(alone.images[0].png)).max() <= 1
    in_batch = engine.generate(replace(BASE, seed=8, batch_size=3, save_images=False), GenerationControl())
    assert np.abs(pixels(in_batch.images[0].png) - pixels(batch.images[1].png)).max() <= 1


def test_interrupt_keeps_images_so_far(engine: Engine) -> None:
    control = GenerationControl()

    def stop_at_second_step(info: StepInfo) -> None:
        if info.step == 2:
            control.interrupt()

    control._on_step = stop_at_second_step
    result = engine.generate(replace(BASE, steps=5, n_iter=3, save_images=False), control)
    assert result.interrupted
    assert len(result.images) == 1


def test_skip_ends_the_batch_and_goes_on(engine: Engine) -> None:
    seen: list[tuple[int, int]] = []
    control = GenerationControl()

    def skip_first_batch(info: StepInfo) -> None:
        seen.append((info.batch_index, info.step))
        if info.batch_index == 0 and info.step == 1:
            control.skip()

    control._on_step = skip_first_batch
    result = engine.generate(replace(BASE, steps=3, n_iter=2, save_images=False), control)
    assert not result.interrupted and len(result.images) == 2
    assert seen == [(0, 1), (1, 1), (1, 2), (1, 3)]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sampler_name": "Nope"}, "sampler_name"),
        ({"scheduler": "Nope"}, "scheduler"),
        ({"sampler_name": "DDIM", "scheduler": "Karras"}, "scheduler"),
        ({"model": "missing-model"}, "model"),
        ({"vae": "missing-vae"}, "vae"),
        ({"width": 65}, "width"),
        ({"steps": 0}, "steps"),
    ],
)
def test_bad_requests_name_the_field(engine: Engine, change: dict, field: str) -> None:
    with pytest.raises(RequestError) as error:
        engine.generate(replace(BASE, **change), GenerationControl())
    assert error.value.field == field
    assert engine.history.count() == 0


def test_unknown_model_error_lists_choices(engine: Engine) -> None:
    with pytest.raises(RequestError, match=r"choose one of: tiny \["):
        engine.generate(replace(BASE, model="nope"), GenerationControl())


def test_legacy_sampler_name_is_normalized(engine: Engine) -> None:
    result = engine.generate(
        replace(BASE, sampler_name="DPM++ 2M Karras", save_images=False), GenerationControl()
    )
    parsed = parse_infotext(result.images[0].infotext)
    assert parsed["Sampler"] == "DPM++ 2M" and parsed["Schedule type"] == "Karras"


class RecordingHooks:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def before_process(self, request: GenerationRequest) -> GenerationRequest:
        self.calls.append("before_process")
        return replace(request, steps=2)

    def process_batch(self, request: GenerationRequest, batch_index: int, seeds: list[int]) -> None:
        self.calls.append(f"process_batch {batch_index} {seeds}")

    def on_step(self, info: StepInfo, control: GenerationControl) -> None:
        self.calls.append(f"on_step {info.step}")

    def postprocess_image(self, request, image, infotext):
        self.calls.append("postprocess_image")
        return image, infotext + ", Hooked: yes"

    def postprocess(self, result):
        self.calls.append("postprocess")
        return result


def test_hooks_are_called_in_order(studio_config) -> None:
    hooks = RecordingHooks()
    engine = Engine(studio_config, hooks=hooks)
    result = engine.generate(replace(BASE, steps=9, save_images=False), GenerationControl())
    assert hooks.calls == [
        "before_process",
        "process_batch 0 [7]",
        "on_step 1",
        "on_step 2",
        "postprocess_image",
        "postprocess",
    ]
    assert parse_infotext(result.images[0].infotext)["Hooked"] == "yes"
    assert parse_infotext(read_png_infotext(result.images[0].png))["Steps"] == "2"


def test_no_model_at_all_is_a_request_error(tmp_path) -> None:
    from studio.config import StudioConfig

    engine = Engine(StudioConfig(data_dir=tmp_path, builtin_models_dir=tmp_path / "none"))
    assert engine.current_model is None
    with pytest.raises(RequestError, match="no model found") as error:
        engine.generate(BASE, GenerationControl())
    assert error.value.field == "model"


def test_styles_apply_and_the_infotext_records_the_styled_prompt(engine: Engine) -> None:
    from studio.prompts.styles import PromptStyle

    engine.prompt_library.styles.save(PromptStyle("Photo", "photo of {prompt}, sharp", "blurry"))
    result = engine.generate(replace(BASE, styles=("Photo",), negative_prompt="ugly"), GenerationControl())
    parsed = parse_infotext(result.images[0].infotext)
    assert parsed["Prompt"] == "photo of a red circle, sharp" and parsed["Negative prompt"] == "ugly, blurry"
    assert "Styles" not in parsed and "Template" not in parsed  # A1111 writes the styled prompt only
    with pytest.raises(RequestError) as error:
        engine.generate(replace(BASE, styles=("Photo", "Nope")), GenerationControl())
    assert error.value.field == "styles"


def test_wildcards_are_chosen_per_image_seed(engine: Engine) -> None:
    folder = engine.config.wildcards_path
    folder.mkdir(parents=True)
    (folder / "color.txt").write_text("red\ngreen\nblue\nyellow\nwhite\nblack\n", encoding="utf-8")
    template = replace(BASE, prompt="a __color__ {cat|dog}", negative_prompt="{dark|}", batch_size=4, seed=10)
    result = engine.generate(template, GenerationControl())
    parsed = [parse_infotext(image.infotext) for image in result.images]
    prompts = [p["Prompt"] for p in parsed]
    assert len(set(prompts)) > 1 and all("__" not in p and "{" not in p for p in prompts)
    assert all(
        p["Template"] == "a __color__ {cat|dog}" and p["Negative Template"] == "{dark|}" for p in parsed
    )
    # the seed of any image gives its prompt (and its picture) again on its own
    third = result.images[2]
    again = engine.generate(replace(template, batch_size=1, seed=third.seed), GenerationControl())
    assert parse_infotext(again.images[0].infotext)["Prompt"] == prompts[2]
    assert np.abs(pixels(again.images[0].png) - pixels(third.png)).max() <= 2  # batched vs alone
    with pytest.raises(RequestError, match="no wildcard __nope__"):
        engine.generate(replace(BASE, prompt="a __nope__"), GenerationControl())
