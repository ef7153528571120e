"""Intel GPUs (torch's native `xpu` device, or intel-extension-for-pytorch)."""

from __future__ import annotations

from typing import Any


class XpuBackend:
    name = "xpu"
    priority = 70

    def is_available(self, torch: Any) -> bool:
        xpu = getattr(torch, "xpu", None)
        return bool(xpu is not None and xpu.is_available())

    def device(self, torch: Any, index: int | None = None) -> Any:
        return torch.device("xpu" if index is None else f"xpu:{index}")

    def preferred_dtype(self, torch: Any) -> Any:
        return torch.bfloat16
