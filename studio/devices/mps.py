"""Apple Silicon (Metal Performance Shaders)."""

from __future__ import annotations

from typing import Any


class MpsBackend:
    name = "mps"
    priority = 80

    def is_available(self, torch: Any) -> bool:
        mps = getattr(getattr(torch, "backends", None), "mps", None)
        return bool(mps is not None and mps.is_available())

    def device(self, torch: Any, index: int | None = None) -> Any:
        return torch.device("mps")

    def preferred_dtype(self, torch: Any) -> Any:
        return torch.float16
