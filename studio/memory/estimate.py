"""What a generation will cost before it runs (time and memory), and the `cost_check` policy.

Torch-free arithmetic, reusable by anything that plans memory or time. Its inputs:
- a `ModelCost`: what one model costs per latent pixel, measured once per model by
  `studio.pipeline.cost_profile` (a replay of the denoiser and the VAE on torch's meta device,
  which computes shapes and nothing else). Work that grows with the pixel count (convolutions,
  linear layers, cross-attention) and self-attention, which grows with its square, are kept
  apart, as is the peak working memory per latent pixel;
- a `DeviceSpeed`: how fast this device runs each kind of work (a short calibration), times a
  `ratio` learned from the batches that really ran (measured seconds / predicted seconds);
- a `JobShape`: the request's size, steps, batch, CFG and mode.

`estimate_job` combines them into a `CostEstimate`; `judge` applies the policy (`cost_check`:
off | warn | refuse, `max_job_seconds`, and the memory the device has free).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from studio.config import COST_CHECK_MODES
from studio.request import GenerationRequest, RequestError

# Loading a model not in memory yet: read and convert its weights (a rough figure; the
# learned ratio does not cover it).
LOAD_BYTES_PER_SECOND = 200e6
# Free memory kept back: the allocator and the rest of the process need some.
MEMORY_HEADROOM = 0.9


@dataclass(frozen=True)
class PassCost:
    """One pass of a network over one sample, per latent pixel `p` (latent width x height)."""

    linear_flops: float  # x p: convolutions, linear layers, cross-attention
    attention_flops: float  # x p**2: self-attention
    bytes_per_pixel: float  # x p: peak working memory (activations) during the pass

    def flops(self, pixels: float, attention_pixels: float | None = None) -> tuple[float, float]:
        """(linear, self-attention) operations at `pixels`; `attention_pixels` bounds the
        attention's reach (a tiled VAE attends within a tile)."""
        reach = pixels if attention_pixels is None else min(pixels, attention_pixels)
        return self.linear_flops * pixels, self.attention_flops * pixels * reach

    def to_json(self) -> dict[str, float]:
        return {
            "linear_flops": self.linear_flops,
            "attention_flops": self.attention_flops,
            "bytes_per_pixel": self.bytes_per_pixel,
        }


@dataclass(frozen=True)
class ModelCost:
    denoiser: PassCost  # one denoiser call on one sample (CFG runs two samples per image)
    decoder: PassCost  # VAE decode of one image
    encoder: PassCost  # VAE encode of one image (img2img / inpaint)
    latent_factor: int  # image pixels per latent pixel along a side (the VAE's scale factor)
    weights_bytes: int  # all components, at the device's dtype
    head_dim: int  # of the denoiser's self-attention: what the attention calibration runs
    decode_one_at_a_time: bool = False  # the vae_slicing memory option
    decode_tile_pixels: int | None = None  # latent pixels of one tile, with the vae_tiling option


@dataclass(frozen=True)
class DeviceSpeed:
    dense_flops_per_second: float
    attention_flops_per_second: float
    ratio: float = 1.0  # measured / predicted seconds of the batches that ran
    batches_measured: int = 0


@dataclass(frozen=True)
class JobShape:
    width: int
    height: int
    steps: int
    batch_size: int = 1
    n_iter: int = 1
    cfg: bool = True  # classifier-free guidance: two samples per image each step
    mode: str = "txt2img"
    strength: float = 1.0  # img2img runs steps x strength steps

    @classmethod
    def of(cls, request: GenerationRequest, batch_size: int | None = None) -> JobShape:
        """The shape of `request`, or of one run of `batch_size` of its images."""
        return cls(
            width=request.width,
            height=request.height,
            steps=request.steps,
            batch_size=request.batch_size if batch_size is None else batch_size,
            n_iter=request.n_iter if batch_size is None else 1,
            cfg=request.cfg_scale > 1.0,
            mode=request.mode,
            strength=1.0 if request.mode == "txt2img" else request.denoising_strength,
        )

    @property
    def denoising_steps(self) -> int:
        if self.mode == "txt2img":
            return self.steps
        return min(self.steps, int(self.steps * self.strength))


@dataclass(frozen=True)
class CostEstimate:
    seconds: float  # the whole job, loading included
    load_seconds: float
    batch_seconds: float  # one batch: its steps, decode (and encode for img2img)
    step_seconds: float
    working_bytes: int  # peak activations
    weights_bytes: int
    weights_loaded: bool
    available_bytes: int | None  # free memory on the device now (None: unknown)
    device: str
    learned: bool  # corrected by batches measured on this device and model

    @property
    def memory_bytes(self) -> int:
        """Memory the job still needs: working memory, plus the weights when not loaded yet."""
        return self.working_bytes + (0 if self.weights_loaded else self.weights_bytes)

    def to_json(self) -> dict[str, Any]:
        return {
            # three decimals: a small job on a fast CPU is estimated in milliseconds, and one
            # decimal said "0.0 s" beside a warning that it is over max_job_seconds=0.01
            "seconds": round(self.seconds, 3),
            "load_seconds": round(self.load_seconds, 3),
            "batch_seconds": round(self.batch_seconds, 3),
            "step_seconds": round(self.step_seconds, 4),
            "memory_bytes": self.memory_bytes,
            "working_bytes": self.working_bytes,
            "weights_bytes": self.weights_bytes,
            "weights_loaded": self.weights_loaded,
            "available_bytes": self.available_bytes,
            "device": self.device,
            "learned": self.learned,
        }


def _seconds(linear: float, attention: float, speed: DeviceSpeed) -> float:
    return linear / speed.dense_flops_per_second + attention / speed.attention_flops_per_second


def estimate_job(
    cost: ModelCost,
    shape: JobShape,
    speed: DeviceSpeed,
    *,
    device: str,
    weights_loaded: bool,
    available_bytes: int | None,
) -> CostEstimate:
    """Time and memory of a job of `shape` on a model costing `cost`, on a device of `speed`."""
    pixels = (shape.width // cost.latent_factor) * (shape.height // cost.latent_factor)
    samples = shape.batch_size * (2 if shape.cfg else 1)
    step = samples * _seconds(*cost.denoiser.flops(pixels), speed)
    tile = cost.decode_tile_pixels
    decode = shape.batch_size * _seconds(*cost.decoder.flops(pixels, tile), speed)
    encode = (
        0.0 if shape.mode == "txt2img" else shape.batch_size * _seconds(*cost.encoder.flops(pixels), speed)
    )
    batch = (shape.denoising_steps * step + decode + encode) * speed.ratio
    load = 0.0 if weights_loaded else cost.weights_bytes / LOAD_BYTES_PER_SECOND
    decoded_together = 1 if cost.decode_one_at_a_time else shape.batch_size
    decode_pixels = pixels if tile is None else min(pixels, tile)
    working = max(
        samples * cost.denoiser.bytes_per_pixel * pixels,
        decoded_together * cost.decoder.bytes_per_pixel * decode_pixels,
        0.0 if shape.mode == "txt2img" else shape.batch_size * cost.encoder.bytes_per_pixel * pixels,
    )
    return CostEstimate(
        seconds=load + shape.n_iter * batch,
        load_seconds=load,
        batch_seconds=batch,
        step_seconds=step * speed.ratio,
        working_bytes=int(working),
        weights_bytes=cost.weights_bytes,
        weights_loaded=weights_loaded,
        available_bytes=available_bytes,
        device=device,
        learned=speed.batches_measured > 0,
    )


def predicted_batch_seconds(cost: ModelCost, shape: JobShape, speed: DeviceSpeed) -> float:
    """One batch's seconds before the learned ratio: what a measured batch is compared with."""
    unlearned = DeviceSpeed(speed.dense_flops_per_second, speed.attention_flops_per_second)
    return estimate_job(
        cost, shape, unlearned, device="", weights_loaded=True, available_bytes=None
    ).batch_seconds


def learn_ratio(speed: DeviceSpeed, measured: float, predicted: float) -> DeviceSpeed:
    """The speed with its ratio moved toward measured / predicted (the first measurement
    replaces the calibration's 1.0; later ones are averaged in geometrically, half weight)."""
    if measured <= 0 or predicted <= 0:
        return speed
    observed = measured / predicted
    ratio = observed if speed.batches_measured == 0 else math.sqrt(speed.ratio * observed)
    return DeviceSpeed(
        speed.dense_flops_per_second, speed.attention_flops_per_second, ratio, speed.batches_measured + 1
    )


# ---- the policy --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostPolicy:
    mode: str = "warn"  # off | warn | refuse
    max_job_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.mode not in COST_CHECK_MODES:
            raise ValueError(f"cost_check: expected one of {', '.join(COST_CHECK_MODES)}, got {self.mode!r}")
        if not self.max_job_seconds > 0:
            raise ValueError(
                f"max_job_seconds: expected a number of seconds > 0, got {self.max_job_seconds!r}"
            )


@dataclass(frozen=True)
class CostVerdict:
    mode: str
    estimate: CostEstimate | None = None
    problems: tuple[str, ...] = ()  # what goes past the limits, one sentence each
    notes: tuple[str, ...] = ()  # e.g. why there is no estimate

    @property
    def warnings(self) -> list[str]:
        """What the job's result and the API response carry (in refuse mode nothing is queued)."""
        return [*self.problems, *self.notes]

    def to_json(self) -> dict[str, Any]:
        return {
            "cost_check": self.mode,
            "estimate": None if self.estimate is None else self.estimate.to_json(),
            "warnings": self.warnings,
        }


class CostRefused(RequestError):
    """The request would take far too long or need more memory than the device has free."""

    def __init__(self, verdict: CostVerdict) -> None:
        super().__init__("cost_check", " ".join(verdict.problems))
        self.verdict = verdict


def format_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.0f} days"


def format_bytes(count: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count / 1e3:.0f} kB"


def problems_of(estimate: CostEstimate, shape: JobShape, policy: CostPolicy) -> tuple[str, ...]:
    """Each limit the estimate goes past, as a sentence with the figures."""
    what = (
        f"{shape.width}x{shape.height}, {shape.steps} steps, "
        f"{shape.batch_size * shape.n_iter} image{'s' if shape.batch_size * shape.n_iter != 1 else ''}"
    )
    problems = []
    if estimate.seconds > policy.max_job_seconds:
        problems.append(
            f"estimated {format_seconds(estimate.seconds)} for {what} on {estimate.device} "
            f"(about {format_seconds(estimate.step_seconds)} a step), over max_job_seconds={policy.max_job_seconds:g}; "
            "lower the size, steps or batch, or raise max_job_seconds."
        )
    available = estimate.available_bytes
    if available is not None and estimate.memory_bytes > available * MEMORY_HEADROOM:
        weights = "" if estimate.weights_loaded else f" + weights {format_bytes(estimate.weights_bytes)}"
        problems.append(
            f"needs about {format_bytes(estimate.memory_bytes)} of memory for {what} "
            f"(working memory {format_bytes(estimate.working_bytes)}{weights}) "
            f"but {format_bytes(available)} is free on {estimate.device}; lower the size or batch."
        )
    return tuple(problems)


def judge(estimate: CostEstimate | None, shape: JobShape, policy: CostPolicy, note: str = "") -> CostVerdict:
    """The verdict of `policy` on `estimate`; raises CostRefused in refuse mode when it goes
    past a limit. `note` says why there is no estimate, when there is none."""
    notes = (note,) if note else ()
    if policy.mode == "off":
        return CostVerdict("off")
    problems = () if estimate is None else problems_of(estimate, shape, policy)
    verdict = CostVerdict(policy.mode, estimate, problems, notes)
    if problems and policy.mode == "refuse":
        raise CostRefused(verdict)
    return verdict
