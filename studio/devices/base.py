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
    dtype: Any  # torch.dtype

    @property
    def is_cpu(self) -> bool:
        return self.name == "cpu"
