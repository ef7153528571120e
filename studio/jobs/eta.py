"""Progress and ETA of a running job, from the steps it has really run.

A job's progress is the share of its batches done (`batch_index + step / steps` over the
batches). Its ETA is the time per step measured on the steps that really ran, times the steps
left: the rest of the current batch and every later batch in full. A Skip ends a batch early,
so its unrun steps are neither counted as done nor waited for, and the next batch gets its own
ETA; an estimate from the progress share alone would count the skipped steps as done and
promise the next batch in a fraction of its real time.
"""

from __future__ import annotations

from studio.progress import StepInfo


class StepClock:
    """Fed each step of one job (`observe`); says its progress and ETA."""

    def __init__(self, batches: int, started: float) -> None:
        self.batches = max(1, batches)
        self.started = started  # time.monotonic() when the job started (model load included)
        self._run: tuple[int, int] | None = None  # (batch_index, image_index) of the last step
        self._step = 0  # the last step seen in that run
        self._done = 0  # steps really run, over all runs
        self._first: tuple[float, int] | None = None  # (time, steps done) at the first step

    def observe(self, info: StepInfo, now: float) -> tuple[float, float | None]:
        """(progress 0..1, ETA in seconds or None while unknown) after the step `info`."""
        run = (info.batch_index, info.image_index)
        if run != self._run:
            self._run, self._step = run, 0
        self._done += max(0, info.step - self._step)
        self._step = max(self._step, info.step)
        if self._first is None:
            self._first = (now, self._done)
        steps = max(1, info.steps)
        progress = min(1.0, (info.batch_index + min(info.step, steps) / steps) / self.batches)
        left = max(0, steps - info.step) + (self.batches - info.batch_index - 1) * steps
        first_at, first_done = self._first
        if self._done > first_done:  # time per step from the steps after the first (no load)
            per_step = (now - first_at) / (self._done - first_done)
        else:
            per_step = (now - self.started) / max(1, self._done)
        return progress, per_step * left
