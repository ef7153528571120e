"""Images stopped by Interrupt or Skip record the steps they really got (infotext, saved file,
History); a batch stopped before its first step finished keeps no image and the result says so."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from studio.hooks import NoHooks
from studio.infotext import parse_infotext, read_png_infotext
from studio.pipeline.engine import Engine
from studio.progress import GenerationControl, StepInfo
from studio.request import GenerationRequest

BASE = GenerationRequest(prompt="a red circle", seed=5, steps=6, width=64, height=64, save_images=True)


def steps_of(infotext: str) -> int:
    return int(parse_infotext(infotext)["Steps"])


def test_an_interrupted_image_records_the_steps_done(engine: Engine) -> None:
    control = GenerationControl()

    def stop_at_third(info: StepInfo) -> None:
        if info.step == 3:
            control.interrupt()

    control._on_step = stop_at_third
    result = engine.generate(replace(BASE, n_iter=2), control)
    assert result.interrupted and len(result.images) == 1
    image = result.images[0]
    assert steps_of(image.infotext) == 3  # not the 6 asked for
    assert image.path is not None and steps_of(read_png_infotext(Path(image.path).read_bytes()) or "") == 3
    (entry,) = engine.history.list()
    assert steps_of(entry.infotext) == 3 and entry.path == image.path
    assert result.warnings == []


def test_a_skipped_batch_records_its_steps_and_the_next_batch_its_own(engine: Engine) -> None:
    control = GenerationControl()

    def skip_first_batch(info: StepInfo) -> None:
        if info.batch_index == 0 and info.step == 2:
            control.skip()

    control._on_step = skip_first_batch
    result = engine.generate(replace(BASE, n_iter=2, seed=11), control)
    assert not result.interrupted
    assert [steps_of(image.infotext) for image in result.images] == [2, 6]
    assert sorted(steps_of(entry.infotext) for entry in engine.history.list()) == [2, 6]


def test_a_batch_stopped_before_its_first_step_keeps_no_image_and_says_so(studio_config) -> None:
    """The stop comes while the batch starts and is older than the grace when the first block
    runs: the step is cut, nothing is decoded, saved or recorded, and a warning names the seed."""
    controls: list[GenerationControl] = []

    class StopAtBatchStart(NoHooks):
        def process_batch(self, request: GenerationRequest, batch_index: int, seeds: list[int]) -> None:
            if batch_index == 1:
                controls[0].interrupt()
                time.sleep(0.6)  # past the 0.5 s grace a stop is given at the step boundary

    engine = Engine(studio_config, hooks=StopAtBatchStart())
    controls.append(GenerationControl())
    steps: list[tuple[int, int]] = []
    controls[0]._on_step = lambda info: steps.append((info.batch_index, info.step))
    result = engine.generate(replace(BASE, n_iter=2, seed=21), controls[0])
    assert result.interrupted
    assert [steps_of(image.infotext) for image in result.images] == [6]  # the first batch only
    assert all(batch == 0 for batch, _ in steps)
    assert len(engine.history.list()) == 1
    assert result.warnings == ["Interrupted before its first step finished: no image was kept (seed 22)"]


def test_hires_stopped_in_its_second_pass_records_the_hires_steps_done(engine: Engine) -> None:
    control = GenerationControl()

    def stop_in_second_pass(info: StepInfo) -> None:
        if info.step == 4:  # 3 first-pass steps, then the second pass's first
            control.interrupt()

    control._on_step = stop_in_second_pass
    request = replace(
        BASE, steps=3, enable_hr=True, hr_scale=1.5, hr_second_pass_steps=4, denoising_strength=1.0
    )
    result = engine.generate(request, control)
    (image,) = result.images
    fields = parse_infotext(image.infotext)
    assert int(fields["Steps"]) == 3 and int(fields["Hires steps"]) == 1
