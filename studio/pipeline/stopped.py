"""What an image stopped early (Interrupt or Skip) records: the steps it really got.

The engine reports every denoising step (`GenerationControl.report_step`); when a batch ends
because of an Interrupt or a Skip, the last step reported for that batch says how far its images
came. Their infotext (and History) then carry the steps actually done, not the steps asked for:
- txt2img and img2img: `Steps` is the number of denoising steps that ran (for img2img that is
  of the `int(steps * denoising strength)` it would have run);
- with hires fix, stopped in the second pass: `Steps` stays (the first pass was complete) and
  `Hires steps` is the number of second-pass steps that ran.
A batch stopped inside a step (the stop is let into a long step after a grace:
`studio.pipeline.interrupt`) gives no image at all, so an image interrupted before its first
step finished (pure noise) is never kept, saved or added to History; the result's warnings
name the seeds that gave no image and the step they were stopped in.
No torch here: this is bookkeeping on `StepInfo`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from studio.progress import GenerationControl, StepInfo
from studio.request import GenerationRequest, Result


def made_as(request: GenerationRequest, last: StepInfo | None) -> GenerationRequest | None:
    """The request as the stopped batch's images were really made (the steps done in the
    fields their infotext shows), or None when not one step of the batch finished.

    `last`: the last step reported for this batch (None when none was)."""
    if last is None or last.step <= 0:
        return None
    if last.step >= last.steps:
        return request  # stopped after its last step: complete
    if request.enable_hr and request.mode == "txt2img" and last.step > request.steps:
        # the first pass (request.steps user steps: the reporter counts second-order samplers'
        # steps as the user asked for them) was complete; the second pass ran the rest
        return dataclasses.replace(request, hr_second_pass_steps=last.step - request.steps)
    return dataclasses.replace(request, steps=last.step)


def not_made_warning(seeds: list[int], interrupted: bool, last: StepInfo | None) -> str:
    """The result's warning for a stopped batch that gave no image."""
    which = ", ".join(str(seed) for seed in seeds)
    noun = "image" if len(seeds) == 1 else "images"
    how = "Interrupted" if interrupted else "Skipped"
    if last is None or last.step <= 0:
        when = "before its first step finished"
    else:
        when = f"inside step {last.step + 1} of {last.steps}"
    return f"{how} {when}: no {noun} was kept (seed {which})"


def stopped_batch(
    request: GenerationRequest,
    last: StepInfo | None,
    images: list[Any],
    seeds: list[int],
    control: GenerationControl,
    result: Result,
) -> GenerationRequest:
    """A batch ended by Interrupt or Skip: the request its images record (`made_as`); a batch
    that gave no image is named in the result's warnings."""
    made = made_as(request, last)
    if not images:
        result.warnings.append(not_made_warning(seeds, control.interrupted, last))
    return request if made is None else made
