"""Start the asked-for device, or fall back to the CPU loudly.

`start_device` resolves `--device` (`auto`, a backend name, `name:index`), applies the dtype
policy (`studio.devices.dtype_policy`) and runs a small probe on the device (a matmul and a
convolution in its dtype). When any of it fails - the backend is unknown, not available here,
or fails the probe (a driver that will not start, a ROCm build on an unsupported GPU, a missing
torch-directml) - the CPU is used instead and the reason is kept on the choice (`fallback`),
logged as a warning, shown on the status line and reported by `/studio/v1/status`,
`/sdapi/v1/memory` and each result's `runtime`. A CPU that fails the probe is an error.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from studio.devices.base import DeviceBackend, DeviceChoice, DeviceError
from studio.devices.dtype_policy import check_dtype, device_dtype, dtype_label
from studio.devices.registry import builtin_backends, resolve_device

log = logging.getLogger("atelier")


def probe_device(choice: DeviceChoice, torch: Any) -> None:
    """Compute a little on the device in its dtype; raises whatever the backend raises."""
    with torch.no_grad():
        x = torch.ones(16, 16, device=choice.device, dtype=choice.dtype)
        y = x @ x
        image = torch.ones(1, 4, 8, 8, device=choice.device, dtype=choice.dtype)
        kernel = torch.ones(4, 4, 3, 3, device=choice.device, dtype=choice.dtype)
        z = torch.nn.functional.conv2d(image, kernel, padding=1)
        value = float(y.float().sum().cpu()) + float(z.float().sum().cpu())
    if value != value:  # NaN: the device computes garbage
        raise DeviceError(f"the {choice.name} probe computed NaN")


def start_device(
    name: str = "auto",
    dtype: str = "auto",
    backends: Sequence[DeviceBackend] | None = None,
    torch: Any = None,
    probe: Callable[[DeviceChoice, Any], None] = probe_device,
    cpu_flags: Iterable[str] | None = None,
) -> DeviceChoice:
    """The device to run on: the asked-for one when it starts, else the CPU with `fallback`
    saying why (logged as a warning). `dtype`: the dtype policy's setting."""
    if torch is None:
        import torch
    check_dtype(dtype)
    backends = list(backends or builtin_backends())
    asked = (name or "auto").strip().lower()
    try:
        choice = device_dtype(resolve_device(asked, backends, torch), dtype, torch, cpu_flags)
        probe(choice, torch)
        return dataclasses.replace(choice, requested=asked, dtype_setting=dtype)
    except Exception as error:
        if asked.partition(":")[0] == "cpu":
            raise DeviceError(f"device: the CPU backend failed to start: {error}") from error
        reason = f"{asked} could not start: {str(error).removeprefix('device: ')}"
    cpu = device_dtype(
        resolve_device("cpu", backends, torch), "auto" if dtype == "fp16" else dtype, torch, cpu_flags
    )
    probe(cpu, torch)
    log.warning("device: %s; running on the CPU instead (%s)", reason, dtype_label(cpu))
    return dataclasses.replace(cpu, requested=asked, fallback=reason, dtype_setting=dtype)


def device_report(choice: DeviceChoice) -> dict[str, Any]:
    """What the API and the status line say about the device in use."""
    return {
        "name": choice.name,
        "device": str(choice.device),
        "requested": choice.requested or choice.name,
        "dtype": str(choice.dtype).replace("torch.", ""),
        "vae_dtype": str(choice.decode_dtype).replace("torch.", ""),
        "dtype_reason": choice.dtype_reason,
        "fallback": choice.fallback,
    }


def label_of_report(report: dict[str, Any]) -> str:
    """The status line's words for a `device_report`: 'cuda (bfloat16)', 'cpu (float16, VAE
    float32)', 'cpu (float32) - FALLBACK: cuda could not start: ...'."""
    dtypes = report["dtype"]
    if report.get("vae_dtype") and report["vae_dtype"] != report["dtype"]:
        dtypes += f", VAE {report['vae_dtype']}"
    label = f"{report['name']} ({dtypes})"
    if report.get("fallback"):
        label += f" - FALLBACK: {report['fallback']}"
    return label


def runtime_summary(runtime: dict[str, Any] | None) -> str:
    """One line for a result's `runtime`: 'cpu (float32) · memory: vae_tiling (added by the
    auto policy)'; empty when there is none."""
    if not runtime:
        return ""
    text = label_of_report(runtime)
    memory = runtime.get("memory") or {}
    strategies = memory.get("strategies") or []
    added = memory.get("added") or []
    text += f" · memory: {', '.join(strategies) or 'no strategy'}"
    if added:
        text += f" ({', '.join(added)} added by the auto policy)"
    if runtime.get("vae_fp32_retries"):
        text += f" · VAE decoded again in fp32 {runtime['vae_fp32_retries']}x (NaN in low precision)"
    return text
