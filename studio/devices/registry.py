"""The registry of device backends and `auto` detection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from studio.devices.base import DeviceBackend, DeviceChoice, DeviceError
from studio.devices.cpu import CpuBackend
from studio.devices.cuda import CudaBackend
from studio.devices.directml import DirectMLBackend
from studio.devices.mps import MpsBackend
from studio.devices.rocm import RocmBackend
from studio.devices.xpu import XpuBackend


def builtin_backends() -> list[DeviceBackend]:
    """A fresh list of the built-in backends (extensions may append their own)."""
    return [CudaBackend(), RocmBackend(), MpsBackend(), XpuBackend(), DirectMLBackend(), CpuBackend()]


def backend_names(backends: Sequence[DeviceBackend] | None = None) -> list[str]:
    return [backend.name for backend in backends or builtin_backends()]


def _torch() -> Any:
    import torch

    return torch


def available_backends(
    backends: Sequence[DeviceBackend] | None = None, torch: Any = None
) -> list[DeviceBackend]:
    torch = torch or _torch()
    found = []
    for backend in backends or builtin_backends():
        try:
            if backend.is_available(torch):
                found.append(backend)
        except Exception:  # a broken optional backend must not stop detection
            continue
    return sorted(found, key=lambda backend: -backend.priority)


def detect_best(backends: Sequence[DeviceBackend] | None = None, torch: Any = None) -> DeviceBackend:
    found = available_backends(backends, torch)
    if not found:
        raise DeviceError("no device backend is available (not even cpu)")
    return found[0]


def resolve_device(
    name: str = "auto", backends: Sequence[DeviceBackend] | None = None, torch: Any = None
) -> DeviceChoice:
    """`auto`, a backend name (`cuda`, `cpu` ...) or `name:index` (`cuda:1`) -> DeviceChoice."""
    torch = torch or _torch()
    backends = list(backends or builtin_backends())
    base, _, index_text = name.strip().lower().partition(":")
    index = int(index_text) if index_text.isdigit() else None
    if base == "auto":
        backend = detect_best(backends, torch)
    else:
        by_name = {backend.name: backend for backend in backends}
        if base not in by_name:
            raise DeviceError(f"device: unknown backend {name!r}; choose one of: auto, {', '.join(by_name)}")
        backend = by_name[base]
        if not backend.is_available(torch):
            available = ", ".join(b.name for b in available_backends(backends, torch))
            raise DeviceError(f"device: {base!r} is not available on this machine; available: {available}")
    return DeviceChoice(backend.name, backend.device(torch, index), backend.preferred_dtype(torch))
