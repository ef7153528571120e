"""Stopping a generation inside a denoising step, not only between steps.

diffusers looks at `pipeline._interrupt` only between steps, so one long step (a large image on
a CPU) ran to its end however long it took. While one pipeline call runs, `stop_inside_steps`
adds checks inside the step:

- forward pre-hooks on the denoiser's blocks (a UNet's down/mid/up blocks and their resnets and
  attentions, a transformer's blocks) and on the VAE encoder's and decoder's blocks;
- for large requests on a CPU, where one attention or convolution call alone can run for
  minutes, a torch function mode (this thread only) that checks before every torch call and
  splits a big attention call into chunks of one head's query rows and a big 2-D convolution
  into bands of output rows, with a check between chunks. An attention output row depends on
  its own query row only, a convolution band on its input rows plus the kernel's reach: the
  result is the same up to float rounding. What stays whole are element-wise ops and norms
  (~3-5 s each on a 2048x2048 latent on a loaded 2-core CPU, the documented 4096x4096 maximum
  of the tiny model).

A stop (interrupt or skip) is first left to the step callback: for twice the last step's time
(0.5 s at least, 3 s at most), and the decode of the partial image that follows gets three
times the step's time from its start. A step that ends within that stops at its boundary as
before, and the partial image is kept. Past it the running block or torch call raises
`StepsStopped`; the context manager swallows it, so the unfinished batch gives no image while
the images of earlier batches are kept.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from studio.progress import GenerationControl

# How long a stop is left to the step boundary: twice the last denoiser call (three times for
# the decode of the partial image that follows), at least GRACE_SECONDS, at most
# LONGEST_GRACE_SECONDS. Short steps (even on a loaded machine) end at their boundary as
# before and keep the partial image; a step longer than that is cut.
GRACE_SECONDS = 0.5
LONGEST_GRACE_SECONDS = 3.0
# Fine checks (torch function mode) from this many latent pixels on (128x128: SD 1.x at
# 1024x1024). Below it the block hooks suffice, and the mode's per-call cost (~15 us a call,
# measured ~20% on a 64x64 tiny-model step) is not worth paying.
FINE_CHECKS_FROM_LATENT_PIXELS = 128 * 128
# Multiply-adds per attention chunk or convolution band: ~0.1 s on one core of the 2-core
# test machine.
CHUNK_WORK = 2**28
# Fewest query rows an attention chunk has (or all of them): measured on the 2-core CPU at 1024 px
# (2 x 8 heads, 16384 tokens, bf16), chunks of one head and 1024 rows cost 1.04x one whole call
# (~6 ms each), 256 rows 1.35x; chunks of 12 rows across all heads cost 3.7x.
MIN_CHUNK_ROWS = 1024

_DENOISER_ATTRIBUTES = ("unet", "transformer")
_BLOCK_LISTS = ("down_blocks", "mid_block", "up_blocks", "transformer_blocks", "single_transformer_blocks")
_SUB_BLOCK_LISTS = ("resnets", "attentions", "downsamplers", "upsamplers")


class StepsStopped(Exception):
    """Raised inside a pipeline call when a stop was asked for longer ago than it is allowed."""


class StopCheck:
    """Raises `StepsStopped` once the control's stop has waited its allowance: counted from the
    stop while denoising, from the start of the decode when the decode began after the stop."""

    def __init__(
        self, control: GenerationControl, grace: float = GRACE_SECONDS, longest: float = LONGEST_GRACE_SECONDS
    ) -> None:
        self.control = control
        self.grace = grace
        self.longest = max(grace, longest)
        self.stopped = False
        self.step_seconds = 0.0  # the last denoiser call's duration
        self._call_started = time.monotonic()
        self.decoding_since: float | None = None  # time.monotonic() when the VAE decode began

    def allowance(self, steps: float) -> float:
        return min(self.longest, max(self.grace, steps * self.step_seconds))

    def __call__(self) -> None:
        age = self.control.stop_age()
        if age is None:
            return
        if self.decoding_since is not None:
            age = min(age, time.monotonic() - self.decoding_since)
            if age >= self.allowance(3):
                raise StepsStopped
        elif age >= self.allowance(2):
            raise StepsStopped

    # the phases, from hooks on the denoiser and the VAE decoder
    def denoiser_starts(self) -> None:
        self.decoding_since = None
        self._call_started = time.monotonic()

    def denoiser_ended(self) -> None:
        self.step_seconds = time.monotonic() - self._call_started

    def decode_starts(self) -> None:
        self.decoding_since = time.monotonic()


def _denoisers(pipe: Any) -> list[Any]:
    return [getattr(pipe, name) for name in _DENOISER_ATTRIBUTES if getattr(pipe, name, None) is not None]


def watched_blocks(pipe: Any, vae: Any = None, denoiser: bool = True) -> list[Any]:
    """The modules whose forward pre-hooks check for a stop: the denoiser's blocks (and their
    resnets / attentions / samplers; not with `denoiser` False) and the VAE encoder's and
    decoder's blocks."""
    roots = _denoisers(pipe) if denoiser else []
    vae = vae if vae is not None else getattr(pipe, "vae", None)
    for part in ("encoder", "decoder"):
        if vae is not None and getattr(vae, part, None) is not None:
            roots.append(getattr(vae, part))
    modules: list[Any] = []
    for root in roots:
        for block in _children(root, _BLOCK_LISTS):
            modules.append(block)
            modules.extend(_children(block, _SUB_BLOCK_LISTS))
    return modules


def _children(module: Any, names: tuple[str, ...]) -> list[Any]:
    import torch

    found: list[Any] = []
    for name in names:
        child = getattr(module, name, None)
        if isinstance(child, torch.nn.ModuleList):
            found.extend(child)
        elif isinstance(child, torch.nn.Module):
            found.append(child)
    return found


def needs_fine_checks(pipe: Any, width: int, height: int, on_cpu: bool) -> bool:
    """Whether a request is large enough (on a CPU) for checks inside each torch call."""
    factor = int(getattr(pipe, "vae_scale_factor", 8) or 8)
    return on_cpu and (width // factor) * (height // factor) >= FINE_CHECKS_FROM_LATENT_PIXELS


@contextlib.contextmanager
def stop_inside_steps(
    control: GenerationControl,
    pipe: Any,
    vae: Any = None,
    *,
    fine: bool = False,
    grace: float = GRACE_SECONDS,
    denoiser: bool = True,
) -> Iterator[StopCheck]:
    """Run the body with stop checks inside the steps of `pipe` (and `vae`, when it replaces the
    pipeline's); `fine` adds the torch function mode; `denoiser` False leaves the denoiser's
    blocks unhooked and the mode off (a compiled or OpenVINO denoiser: stops act between its
    calls). A `StepsStopped` raised in the body is swallowed and `check.stopped` set."""
    check = StopCheck(control, grace)

    def hook(module: Any, args: Any) -> None:
        check()

    fine = fine and denoiser
    blocks = watched_blocks(pipe, vae, denoiser=denoiser)
    handles = [module.register_forward_pre_hook(hook) for module in blocks]
    for denoiser in _denoisers(pipe):
        handles.append(denoiser.register_forward_pre_hook(lambda module, args: check.denoiser_starts()))
        handles.append(denoiser.register_forward_hook(lambda module, args, out: check.denoiser_ended()))
    decoder = getattr(vae if vae is not None else getattr(pipe, "vae", None), "decoder", None)
    if decoder is not None:
        handles.append(decoder.register_forward_pre_hook(lambda module, args: check.decode_starts()))
    try:
        with _fine_checks(check) if fine else contextlib.nullcontext():
            yield check
    except StepsStopped:
        check.stopped = True
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def _fine_checks(check: StopCheck) -> Iterator[None]:
    from torch.overrides import TorchFunctionMode

    class CheckEveryCall(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            check()
            if func is _sdpa():
                return chunked_attention(check, *args, **(kwargs or {}))
            if func is _conv2d():
                return chunked_conv2d(check, *args, **(kwargs or {}))
            return func(*args, **(kwargs or {}))

    with CheckEveryCall():
        yield


def _sdpa() -> Any:
    import torch.nn.functional as F

    return F.scaled_dot_product_attention


def _conv2d() -> Any:
    import torch.nn.functional as F

    return F.conv2d


def chunked_attention(
    check: Any,
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    **extra: Any,
) -> Any:
    """`scaled_dot_product_attention` computed one head at a time over chunks of query rows,
    calling `check()` between chunks; one call when it is small, causal or has dropout.

    Each call keeps whole heads' keys and values and at least `MIN_CHUNK_ROWS` query rows: a
    chunk of a few rows across every head re-reads all the keys and values per chunk, which made
    a 1024 px attention 3.7x slower than one call and a 2048 px step take hours."""
    import itertools

    import torch

    sdpa = _sdpa()
    rows = query.shape[-2] if query.dim() >= 2 else 1
    per_head_row = key.shape[-2] * (query.shape[-1] + value.shape[-1])
    options = {"dropout_p": dropout_p, "is_causal": is_causal, "scale": scale, **extra}
    whole = query.shape[:-2].numel() * rows * per_head_row <= CHUNK_WORK
    if is_causal or dropout_p or query.dim() < 3 or whole:
        return sdpa(query, key, value, attn_mask=attn_mask, **options)
    chunk = min(rows, max(MIN_CHUNK_ROWS, CHUNK_WORK // max(1, per_head_row)))
    if chunk >= 64:
        chunk -= chunk % 64  # whole tiles of the kernel: chunks then add no rounding differences
    leading = query.shape[:-2]
    one_head_at_a_time = key.shape[:-2] == leading and value.shape[:-2] == leading
    heads = itertools.product(*(range(size) for size in leading)) if one_head_at_a_time else [None]
    mask_rows = attn_mask is not None and attn_mask.dim() >= 2 and attn_mask.shape[-2] == rows
    out = None
    for head in heads:
        at = (Ellipsis,) if head is None else tuple(slice(index, index + 1) for index in head)
        head_mask = _mask_of_head(attn_mask, head)
        for start in range(0, rows, chunk):
            check()
            mask = head_mask[..., start : start + chunk, :] if mask_rows else head_mask
            rows_of_head = query[at][..., start : start + chunk, :]
            part = sdpa(rows_of_head, key[at], value[at], attn_mask=mask, **options)
            if out is None:
                out = torch.empty((*leading, rows, part.shape[-1]), dtype=part.dtype, device=part.device)
            out[at][..., start : start + part.shape[-2], :] = part
    return out


def _mask_of_head(mask: Any, head: tuple[int, ...] | None) -> Any:
    """The part of an attention mask (broadcast over the query's leading dimensions, aligned
    from the right) that applies to one head."""
    if mask is None or head is None or mask.dim() <= 2:
        return mask
    lead = mask.dim() - 2
    offset = len(head) - lead
    at = []
    for dim in range(lead):
        index = head[offset + dim] if offset + dim >= 0 and mask.shape[dim] > 1 else 0
        at.append(slice(index, index + 1))
    return mask[tuple(at)]


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    first, second = tuple(value)
    return int(first), int(second)


def chunked_conv2d(
    check: Any,
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Any:
    """`conv2d` computed over bands of output rows, calling `check()` between bands; one call
    when it is small or the padding is a string ("same" / "valid")."""
    import torch
    import torch.nn.functional as F

    if isinstance(padding, str) or input.dim() != 4:
        return F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    (stride_h, stride_w), (pad_h, pad_w), (dil_h, dil_w) = _pair(stride), _pair(padding), _pair(dilation)
    batch, _, height, width = input.shape
    out_channels, in_per_group, kernel_h, kernel_w = weight.shape
    out_h = (height + 2 * pad_h - dil_h * (kernel_h - 1) - 1) // stride_h + 1
    out_w = (width + 2 * pad_w - dil_w * (kernel_w - 1) - 1) // stride_w + 1
    per_row = batch * out_channels * out_w * in_per_group * kernel_h * kernel_w
    band = max(1, CHUNK_WORK // max(1, per_row))
    if band >= out_h:
        return F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    out = torch.empty((batch, out_channels, out_h, out_w), dtype=input.dtype, device=input.device)
    reach = dil_h * (kernel_h - 1)
    for first in range(0, out_h, band):
        check()
        last = min(out_h, first + band)  # output rows [first, last)
        low = first * stride_h - pad_h  # input rows [low, high) with the padding as rows < 0 or >= height
        high = (last - 1) * stride_h - pad_h + reach + 1
        rows = input[:, :, max(0, low) : min(height, high)]
        if low < 0 or high > height:
            rows = F.pad(rows, (0, 0, max(0, -low), max(0, high - height)))
        out[:, :, first:last] = F.conv2d(
            rows, weight, bias, (stride_h, stride_w), (0, pad_w), dilation, groups
        )
    return out
