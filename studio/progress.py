"""The seam between whoever runs a generation (the job worker) and the pipeline doing it.

The worker makes one `GenerationControl` per job and hands it to the generator. The generator
reports each denoising step through `report_step` and asks `interrupted` / `take_skip` between
steps; the worker (or an API call on another thread) calls `interrupt()` / `skip()`.
No torch import: `latents` is whatever the pipeline passes (a tensor), read by observers only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StepInfo:
    image_index: int  # first image of the batch being denoised, 0-based over batch_size * n_iter
    image_count: int  # batch_size * n_iter
    batch_index: int  # which batch (0..n_iter-1)
    step: int  # steps done in this batch, 1-based
    steps: int  # steps this batch will take
    latents: Any = None
    family: str = ""  # the model family (studio.pipeline.families): the preview's colours
    width: int = 0  # the image's size (Flux's packed latents unpack with it)
    height: int = 0


StepObserver = Callable[[StepInfo], None]


class GenerationControl:
    """Thread-safe interrupt/skip flags plus the step observer for one generation."""

    def __init__(self, on_step: StepObserver | None = None) -> None:
        self._on_step = on_step
        self._interrupt = threading.Event()
        self._skip = threading.Event()
        self._stop_asked_at: float | None = None  # time.monotonic() of the first interrupt/skip
        # the last step reported: the generator reads it to record the steps an image really got
        self.last_step: StepInfo | None = None

    def interrupt(self) -> None:
        """Stop after the current step (or inside it, when it runs long); images made so far
        are kept."""
        self._note_stop()
        self._interrupt.set()

    def skip(self) -> None:
        """Stop the current batch after this step and go on with the next one."""
        self._note_stop()
        self._skip.set()

    def _note_stop(self) -> None:
        if self._stop_asked_at is None:
            self._stop_asked_at = time.monotonic()

    def stop_age(self) -> float | None:
        """Seconds since an interrupt or a not yet taken skip was asked for; None when neither."""
        asked = self._stop_asked_at
        if asked is None or not (self._interrupt.is_set() or self._skip.is_set()):
            return None
        return time.monotonic() - asked

    @property
    def interrupted(self) -> bool:
        return self._interrupt.is_set()

    @property
    def skip_requested(self) -> bool:
        return self._skip.is_set()

    def take_skip(self) -> bool:
        """True once per skip() call: the generator consumes the flag when it starts a new batch."""
        if self._skip.is_set():
            self._skip.clear()
            if not self._interrupt.is_set():
                self._stop_asked_at = None
            return True
        return False

    def report_step(self, info: StepInfo) -> None:
        self.last_step = info
        if self._on_step is not None:
            self._on_step(info)
