"""AMD ROCm: a HIP build of torch exposes the GPU through the `cuda` device type."""

from __future__ import annotations

from typing import Any


class RocmBackend:
    name = "rocm"
    priority = 90

    def is_available(self, torch: Any) -> bool:
        return bool(getattr(torch.version, "hip", None)) and bool(torch.cuda.is_available())

    def device(self, torch: Any, index: int | None = None) -> Any:
        return torch.device("cuda" if index is None else f"cuda:{index}")

    def preferred_dtype(self, torch: Any) -> Any:
        return torch.float16
