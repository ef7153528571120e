"""Interrupt reaches a long single step: checks between the denoiser's and the VAE's blocks, and
inside big attention calls, on the real engine and the tiny model."""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import replace
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from studio.pipeline.engine import Engine
from studio.pipeline.interrupt import StopCheck, chunked_attention, stop_inside_steps, watched_blocks
from studio.progress import GenerationControl, StepInfo
from studio.request import GenerationRequest

SMALL = GenerationRequest(prompt="a red circle", seed=3, steps=1, width=64, height=64, save_images=False)


def run_in_thread(engine: Engine, request: GenerationRequest, control: GenerationControl) -> dict[str, Any]:
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = engine.generate(request, control)
        except BaseException as error:  # pragma: no cover - reported by the asserts
            outcome["error"] = error
        outcome["ended"] = time.monotonic()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    outcome["thread"] = thread
    return outcome


@pytest.mark.slow
def test_interrupt_ends_a_long_single_step_within_two_seconds(engine: Engine) -> None:
    engine.generate(SMALL, GenerationControl())  # the model is loaded: what follows is the step
    steps: list[StepInfo] = []
    control = GenerationControl(on_step=steps.append)
    # 256x256 on the tiny model: one step takes ~9 s on one core (4 attention calls over 4096
    # tokens, ~1.7 s each); today an interrupt waited for the step's end.
    outcome = run_in_thread(engine, replace(SMALL, width=256, height=256, steps=2), control)
    time.sleep(0.5)
    interrupted_at = time.monotonic()
    control.interrupt()
    outcome["thread"].join(30)
    assert "error" not in outcome, outcome.get("error")
    took = outcome["ended"] - interrupted_at
    assert took < 2.0, f"the job took {took:.1f} s to stop"
    result = outcome["result"]
    assert result.interrupted and result.images == []  # the unfinished batch gives no image
    assert steps == []  # it really stopped inside the first step


def test_stop_inside_steps_keeps_the_pipeline_usable(engine: Engine) -> None:
    engine.generate(SMALL, GenerationControl())
    loaded = engine._load(engine.check(SMALL)[1])
    pipe = loaded.pipe
    control = GenerationControl()
    control.interrupt()
    with stop_inside_steps(control, pipe, grace=0.0) as check:
        pipe("a red circle", width=64, height=64, num_inference_steps=1)
    assert check.stopped  # the first watched block raised
    names = {type(module).__name__ for module in watched_blocks(pipe)}
    assert {"DownBlock2D", "CrossAttnUpBlock2D", "UNetMidBlock2DCrossAttn", "UpDecoderBlock2D"} <= names
    assert {"ResnetBlock2D", "Transformer2DModel"} <= names
    # the hooks are gone afterwards: the same pipeline runs to its end
    result = engine.generate(SMALL, GenerationControl())
    assert len(result.images) == 1


def test_a_stop_within_the_grace_is_left_to_the_step_boundary(engine: Engine) -> None:
    """A short step stops at its end as before: the partial image is decoded and kept."""
    engine.generate(SMALL, GenerationControl())
    seen: list[int] = []
    controls: list[GenerationControl] = []

    def on_step(info: StepInfo) -> None:
        seen.append(info.step)
        if info.step == 2:
            controls[0].interrupt()

    controls.append(GenerationControl(on_step=on_step))
    result = engine.generate(replace(SMALL, steps=10, n_iter=2), controls[0])
    assert seen == [1, 2] and result.interrupted and len(result.images) == 1


def test_chunked_attention_equals_one_call_and_checks_between_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    import studio.pipeline.interrupt as interrupt

    torch.manual_seed(0)
    query, key, value = (torch.randn(2, 4, 300, 8) for _ in range(3))
    monkeypatch.setattr(interrupt, "CHUNK_WORK", 300 * 16 * 7)  # 7 query rows of one head a chunk
    monkeypatch.setattr(interrupt, "MIN_CHUNK_ROWS", 1)
    # masks of every shape SDPA broadcasts: per head, per batch, one for all, and boolean
    masks = [torch.randn(2, 4, 300, 300), torch.randn(2, 1, 300, 300), torch.randn(300, 300)]
    masks += [torch.randn(4, 1, 300) > -1.0, None]
    for mask in masks:
        counted: list[int] = []
        chunked = chunked_attention(functools.partial(counted.append, 1), query, key, value, attn_mask=mask)
        whole = F.scaled_dot_product_attention(query, key, value, attn_mask=mask)
        assert torch.allclose(chunked, whole, atol=1e-6)
        assert len(counted) == 2 * 4 * -(-300 // 7)  # each head, in chunks of 7 rows

    # at least MIN_CHUNK_ROWS rows a call, however much work a row is
    monkeypatch.setattr(interrupt, "MIN_CHUNK_ROWS", 128)
    calls = []
    chunked = chunked_attention(lambda: calls.append(1), query, key, value)
    assert torch.allclose(chunked, F.scaled_dot_product_attention(query, key, value), atol=1e-6)
    assert len(calls) == 2 * 4 * 3  # 300 rows: 128 + 128 + 44

    # keys with other leading dimensions than the query's: chunks of rows across all heads
    shared_key, shared_value = key[:1], value[:1]
    calls = []
    chunked = chunked_attention(lambda: calls.append(1), query, shared_key, shared_value)
    assert torch.allclose(chunked, F.scaled_dot_product_attention(query, shared_key, shared_value), atol=1e-6)
    assert len(calls) == 3

    stopping = GenerationControl()
    stopping.interrupt()
    with pytest.raises(interrupt.StepsStopped):
        chunked_attention(StopCheck(stopping, grace=0.0), query, key, value)


@pytest.mark.parametrize(
    ("stride", "padding", "dilation", "groups", "kernel"),
    [
        (1, 1, 1, 1, 3),
        (2, 1, 1, 1, 3),
        (1, 0, 1, 1, 1),
        (2, 0, 1, 1, 3),
        (1, 2, 2, 2, 3),
        (1, (1, 0), 1, 1, 3),
    ],
)
def test_chunked_conv2d_equals_one_call(
    monkeypatch: pytest.MonkeyPatch, stride: int, padding: Any, dilation: int, groups: int, kernel: int
) -> None:
    import studio.pipeline.interrupt as interrupt

    torch.manual_seed(1)
    image = torch.randn(2, 4, 37, 23)
    weight = torch.randn(6, 4 // groups, kernel, kernel)
    bias = torch.randn(6)
    whole = F.conv2d(image, weight, bias, stride, padding, dilation, groups)
    calls: list[int] = []
    per_row = 2 * 6 * whole.shape[-1] * (4 // groups) * kernel * kernel
    monkeypatch.setattr(interrupt, "CHUNK_WORK", per_row * 4)  # 4 output rows a band
    banded = interrupt.chunked_conv2d(
        lambda: calls.append(1), image, weight, bias, stride, padding, dilation, groups
    )
    assert banded.shape == whole.shape
    assert torch.allclose(banded, whole, atol=1e-5)
    assert len(calls) == -(-whole.shape[-2] // 4)


def test_a_stop_waits_two_steps_then_a_decode_three_from_its_start() -> None:
    control = GenerationControl()
    check = StopCheck(control, grace=0.05, longest=1.0)
    check.step_seconds = 0.1  # the last denoiser call
    check()  # no stop asked: nothing
    control.interrupt()
    check()  # within two steps' time: left to the step boundary
    time.sleep(0.25)
    with pytest.raises(Exception) as raised:
        check()
    assert type(raised.value).__name__ == "StepsStopped"
    check.decode_starts()  # the boundary came: the partial image's decode gets its own time
    check()
    time.sleep(0.35)
    with pytest.raises(type(raised.value)):
        check()
    long_steps = StopCheck(control, grace=0.05, longest=0.2)
    long_steps.step_seconds = 30.0
    assert long_steps.allowance(2) == 0.2  # a long step is cut, not waited for
