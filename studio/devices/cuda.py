"""NVIDIA CUDA (a CUDA build of torch: `torch.version.cuda` set, `torch.version.hip` unset)."""

from __future__ import annotations

from typing import Any


class CudaBackend:
    name = "cuda"
    priority = 100

    def is_available(self, torch: Any) -> bool:
        return (
            bool(getattr(torch.version, "cuda", None))
            and not getattr(torch.version, "hip", None)
            and bool(torch.cuda.is_available())
        )

    def device(self, torch: Any, index: int | None = None) -> Any:
        return torch.device("cuda" if index is None else f"cuda:{index}")

    def preferred_dtype(self, torch: Any) -> Any:
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
