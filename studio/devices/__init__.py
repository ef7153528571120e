"""Device backends: one small module per backend, a registry keyed by name, and detection.

Extensions add backends through the `register_devices` hook (a `DeviceRegistry` per studio).

from studio.devices import resolve_device
choice = resolve_device("auto")   # DeviceChoice(name="cuda", device=torch.device("cuda"), dtype=torch.float16)
"""

from studio.devices.base import DeviceBackend, DeviceChoice, DeviceError
from studio.devices.registry import (
    DeviceRegistry,
    available_backends,
    backend_names,
    builtin_backends,
    detect_best,
    resolve_device,
)

__all__ = [
    "DeviceBackend",
    "DeviceChoice",
    "DeviceError",
    "DeviceRegistry",
    "available_backends",
    "backend_names",
    "builtin_backends",
    "detect_best",
    "resolve_device",
]
