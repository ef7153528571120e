"""The cost estimate's arithmetic and the cost_check policy (torch-free)."""

from __future__ import annotations

import pytest

from studio.config import ConfigError, load_config
from studio.memory.estimate import (
    CostPolicy,
    CostRefused,
    DeviceSpeed,
    JobShape,
    ModelCost,
    PassCost,
    estimate_job,
    judge,
    learn_ratio,
    predicted_batch_seconds,
)
from studio.request import GenerationRequest

GB = 1e9
COST = ModelCost(
    denoiser=PassCost(linear_flops=1e6, attention_flops=100.0, bytes_per_pixel=1000.0),
    decoder=PassCost(linear_flops=2e6, attention_flops=10.0, bytes_per_pixel=4000.0),
    encoder=PassCost(linear_flops=1e6, attention_flops=10.0, bytes_per_pixel=2000.0),
    latent_factor=8,
    weights_bytes=2 * 10**9,
    head_dim=40,
)
SPEED = DeviceSpeed(dense_flops_per_second=1e11, attention_flops_per_second=1e10)


def estimate(shape: JobShape, cost: ModelCost = COST, speed: DeviceSpeed = SPEED, **kwargs: object):
    options = {"device": "cpu", "weights_loaded": True, "available_bytes": None, **kwargs}
    return estimate_job(cost, shape, speed, **options)  # type: ignore[arg-type]


def test_a_step_grows_with_pixels_and_self_attention_with_their_square() -> None:
    small = estimate(JobShape(512, 512, steps=1, cfg=False))
    pixels = 64 * 64
    assert small.step_seconds == pytest.approx(1e6 * pixels / 1e11 + 100.0 * pixels**2 / 1e10)
    big = estimate(JobShape(1024, 1024, steps=1, cfg=False))
    linear, attention = 1e6 * pixels / 1e11, 100.0 * pixels**2 / 1e10
    assert big.step_seconds == pytest.approx(4 * linear + 16 * attention)


def test_steps_cfg_batch_and_batches_multiply() -> None:
    one = estimate(JobShape(512, 512, steps=10, cfg=False))
    decode = 2e6 * 4096 / 1e11 + 10.0 * 4096**2 / 1e10
    assert one.batch_seconds == pytest.approx(10 * one.step_seconds + decode)
    cfg = estimate(JobShape(512, 512, steps=10))
    assert cfg.step_seconds == pytest.approx(2 * one.step_seconds)
    many = estimate(JobShape(512, 512, steps=10, batch_size=3, n_iter=4))
    assert many.step_seconds == pytest.approx(3 * cfg.step_seconds)
    assert many.seconds == pytest.approx(4 * many.batch_seconds)


def test_img2img_runs_steps_times_strength_and_encodes() -> None:
    txt = estimate(JobShape(512, 512, steps=20))
    img = estimate(JobShape(512, 512, steps=20, mode="img2img", strength=0.5))
    encode = 1e6 * 4096 / 1e11 + 10.0 * 4096**2 / 1e10
    assert img.batch_seconds == pytest.approx(txt.batch_seconds - 10 * txt.step_seconds + encode)
    request = GenerationRequest(
        prompt="x", init_images=(b"png",), denoising_strength=0.3, steps=10, cfg_scale=1
    )
    shape = JobShape.of(request)
    assert shape.mode == "img2img" and shape.denoising_steps == 3 and not shape.cfg


def test_memory_is_the_biggest_pass_plus_weights_not_loaded_yet() -> None:
    shape = JobShape(512, 512, steps=1, batch_size=2)
    loaded = estimate(shape)
    assert loaded.working_bytes == max(4 * 1000 * 4096, 2 * 4000 * 4096)
    assert loaded.memory_bytes == loaded.working_bytes and loaded.load_seconds == 0
    cold = estimate(shape, weights_loaded=False)
    assert cold.memory_bytes == cold.working_bytes + 2 * 10**9 and cold.load_seconds > 0
    sliced = estimate(shape, cost=ModelCost(**{**COST.__dict__, "decode_one_at_a_time": True}))
    assert sliced.working_bytes == 4 * 1000 * 4096
    tiled = ModelCost(**{**COST.__dict__, "decode_tile_pixels": 32 * 32})
    big = estimate(JobShape(2048, 2048, steps=1, cfg=False), cost=tiled)
    assert big.working_bytes == 1000 * 256 * 256  # the denoiser's; the decoder works per tile


def test_the_ratio_learned_from_batches_scales_the_estimate() -> None:
    shape = JobShape(512, 512, steps=10)
    predicted = predicted_batch_seconds(COST, shape, SPEED)
    first = learn_ratio(SPEED, measured=3 * predicted, predicted=predicted)
    assert first.ratio == pytest.approx(3) and first.batches_measured == 1
    second = learn_ratio(first, measured=12 * predicted, predicted=predicted)
    assert second.ratio == pytest.approx(6)  # geometric mean of 3 and 12
    assert estimate(shape, speed=second).batch_seconds == pytest.approx(6 * predicted)
    assert estimate(shape, speed=second).learned and not estimate(shape).learned
    assert predicted_batch_seconds(COST, shape, second) == pytest.approx(predicted)


def test_warn_lists_what_goes_past_the_limits_with_the_figures() -> None:
    shape = JobShape(1024, 1024, steps=50)
    slow = estimate(shape, available_bytes=int(50 * GB))
    verdict = judge(slow, shape, CostPolicy("warn", max_job_seconds=10))
    assert len(verdict.warnings) == 1
    warning = verdict.warnings[0]
    assert "1024x1024, 50 steps, 1 image" in warning and "max_job_seconds=10" in warning
    assert verdict.to_json()["estimate"]["seconds"] == round(slow.seconds, 3)
    short_of_memory = estimate(shape, available_bytes=int(0.01 * GB))
    memory = judge(short_of_memory, shape, CostPolicy("warn", max_job_seconds=1e9)).warnings
    assert len(memory) == 1 and "of memory" in memory[0] and "10.0 MB is free on cpu" in memory[0]
    assert judge(slow, shape, CostPolicy("warn", max_job_seconds=1e9)).warnings == []


def test_refuse_raises_with_the_estimate_and_off_checks_nothing() -> None:
    shape = JobShape(1024, 1024, steps=50)
    slow = estimate(shape)
    with pytest.raises(CostRefused) as refused:
        judge(slow, shape, CostPolicy("refuse", max_job_seconds=10))
    assert refused.value.field == "cost_check" and "estimated" in refused.value.message
    assert refused.value.verdict.estimate == slow
    assert judge(slow, shape, CostPolicy("off", max_job_seconds=10)).to_json() == {
        "cost_check": "off",
        "estimate": None,
        "warnings": [],
    }
    unknown = judge(None, shape, CostPolicy("refuse", max_job_seconds=10), note="no cost estimate for x")
    assert unknown.warnings == ["no cost estimate for x"]  # never refused for want of an estimate


def test_settings_are_checked_where_they_come_in() -> None:
    config = load_config(environ={"ATELIER_COST_CHECK": "refuse", "ATELIER_MAX_JOB_SECONDS": "12.5"})
    assert config.cost_check == "refuse" and config.max_job_seconds == 12.5
    assert load_config(environ={}).cost_check == "warn"
    with pytest.raises(ConfigError, match="cost_check: expected one of off, warn, refuse"):
        load_config(environ={"ATELIER_COST_CHECK": "sometimes"})
    with pytest.raises(ConfigError, match="max_job_seconds"):
        load_config(environ={"ATELIER_MAX_JOB_SECONDS": "0"})
    with pytest.raises(ValueError, match="cost_check"):
        CostPolicy("loud")


def test_durations_and_sizes_read_well() -> None:
    from studio.memory.estimate import format_bytes, format_seconds

    assert [format_seconds(s) for s in (0.034, 4.26, 42, 1380, 7200, 1e6)] == [
        "0.03 s",
        "4.3 s",
        "42 s",
        "23 min",
        "2.0 h",
        "12 days",
    ]
    assert [format_bytes(b) for b in (5e3, 2.5e6, 31.2e9)] == ["5 kB", "2.5 MB", "31.2 GB"]
