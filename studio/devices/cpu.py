"""CPU: always available; float32 (bfloat16 is faster on CPUs with AVX512-BF16 but changes the
pictures, so it is not the default)."""

from __future__ import annotations

from typing import Any


class CpuBackend:
    name = "cpu"
    priority = 0

    def is_available(self, torch: Any) -> bool:
        return True

    def device(self, torch: Any, index: int | None = None) -> Any:
        return torch.device("cpu")

    def preferred_dtype(self, torch: Any) -> Any:
        return torch.float32
