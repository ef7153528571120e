"""The shape of a device backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class DeviceError(RuntimeError):
    """The asked-for device is unknown or not available on this machine."""


class DeviceBackend(Protocol):
    name: str
    priority: int  # `auto` picks the available backend with the highest priority

    def is_available(self, torch: Any) -> bool:
        """Whether this backend can run here; `torch` is the torch module (passed in for testing)."""
        ...

    def device(self, torch: Any, index: int | None = None) -> Any: ...

    def preferred_dtype(self, torch: Any) -> Any: ...


@dataclass(frozen=True)
class DeviceChoice:
    name: str
    device: Any  # torch.device
    dtype: Any  # torch.dtype: the denoiser's and text encoders'
    vae_dtype: Any = None  # the VAE's (None: the same as `dtype`); fp32 beside an fp16 model
    requested: str = ""  # what `--device` asked for ("auto", "cuda" ...)
    fallback: str | None = None  # why the asked-for device could not start (then this is the CPU)
    dtype_reason: str = ""  # why this dtype (the dtype policy's words)
    dtype_setting: str = "auto"  # the `dtype` setting it started with (auto | fp32 | fp16 | bf16)

    @property
    def is_cpu(self) -> bool:
        return self.name == "cpu"

    @property
    def decode_dtype(self) -> Any:
        return self.dtype if self.vae_dtype is None else self.vae_dtype
