"""Device backends: one small module per backend, a registry keyed by name, and detection.

from studio.devices import resolve_device
choice = resolve_device("auto")   # DeviceChoice(name="cuda", device=torch.device("cuda"), dtype=torch.float16)
"""

from studio.devices.base import DeviceBackend, DeviceChoice, DeviceError
from studio.devices.registry import available_backends, backend_names, detect_best, resolve_device

__all__ = [
    "DeviceBackend",
    "DeviceChoice",
    "DeviceError",
    "available_backends",
    "backend_names",
    "detect_best",
    "resolve_device",
]
