"""Exponential backoff with jitter, shared by jobs, sync and downloads."""

from __future__ import annotations

import random


def backoff_delay(
    attempt: int, base: float = 0.5, cap: float = 60.0, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry number `attempt` (1-based): base * 2**(attempt-1), capped,
    with "equal jitter" (half fixed, half random) so clients that failed together spread out."""
    if attempt < 1:
        raise ValueError("attempt: must be >= 1")
    delay = min(cap, base * 2 ** (attempt - 1))
    return delay / 2 + (rng or random).uniform(0, delay / 2)
