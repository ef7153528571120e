"""The registry of device backends and `auto` detection.

A `DeviceRegistry` holds the backends of one studio: the built-in ones (`builtin_backends`) and
those of extensions, all added through the `register_devices` hook (`studio.scripts.registries`
builds it). The functions below work on any sequence of backends; without one they use the
built-ins (what a caller outside a studio, like a test or a benchmark, wants).
"""

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
    """A fresh list of the built-in backends (registered by the built-in `register_devices`)."""
    return [CudaBackend(), RocmBackend(), MpsBackend(), XpuBackend(), DirectMLBackend(), CpuBackend()]


class DeviceRegistry:
    """The device backends one studio can run on, by name, in the order they were added."""

    def __init__(self) -> None:
        self._backends: dict[str, DeviceBackend] = {}

    def add(self, backend: DeviceBackend) -> None:
        """Add a backend; a name that is already taken (or `auto`) is refused (ValueError)."""
        name = backend.name.strip().lower()
        if name != backend.name or not name or ":" in name or name == "auto":
            raise ValueError(f"bad device backend name {backend.name!r}: lower case, no ':', not 'auto'")
        if name in self._backends:
            raise ValueError(f"a device backend named {name!r} is already registered")
        self._backends[name] = backend

    def backends(self) -> list[DeviceBackend]:
        return list(self._backends.values())

    def names(self) -> list[str]:
        return list(self._backends)

    def resolve(self, name: str = "auto", torch: Any = None) -> DeviceChoice:
        """`auto`, a backend name or `name:index` -> DeviceChoice, among these backends."""
        return resolve_device(name, self.backends(), torch)


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
