"""Which backend runs a job's UNet and VAE decoder: the `backend` setting's decision, per job.

- `torch`: always PyTorch.
- `openvino`: OpenVINO; what it cannot run is refused by field before the job is queued
  (`openvino.refusals`); a missing `openvino` package runs on torch with a warning.
- `auto` (the default): OpenVINO where it was measured to pay - on a CPU with native bf16
  (AVX-512 BF16 or AMX: OpenVINO's gain is its bf16 kernels; forced to f32 it measured 1.0x),
  for SD 1.x / 2.x / SDXL models of at least `AUTO_MIN_WEIGHTS_BYTES` of fp32 weights
  (full-size checkpoints; docs/performance.md has the figures) - and torch everywhere else. A full-size model on a CPU
  that OpenVINO cannot take for this job (ControlNet units, a size it cannot trace, a quantized
  UNet, another family, no `openvino` package) runs on torch *loudly*: a warning in the result
  and the log says why. A small model (the tiny and starter models), or a GPU, runs on torch
  quietly; the result's `runtime.backend` says which ran and why either way.

Torch-free: the engine hands in the facts (device, family, size, refusals, the missing package).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# fp32 weights from which `auto` uses OpenVINO on a CPU: the small-model line of the dtype policy
# (the tiny and starter models are under it, SD 1.5's 4 GB far above it)
AUTO_MIN_WEIGHTS_BYTES = 400 * 2**20


@dataclass(frozen=True)
class BackendChoice:
    setting: str  # auto | torch | openvino
    used: str  # torch | openvino
    reason: str
    loud: bool = False  # a fallback the user should hear about (a warning in the result)
    torch_compile: bool = False  # the torch denoiser's forward runs compiled
    channels_last: bool = False
    openvino_int8: bool = False  # the OpenVINO UNet runs in int8 (openvino_int8.py)
    int8_missing: str | None = None  # why int8 was wanted but cannot run (nncf missing)
    quantize_unet: str = "none"  # the loaded model's weight quantization (studio.pipeline.quantize)
    quantize_text_encoder: str = "none"

    @property
    def checks_inside_denoiser(self) -> bool:
        """Whether stop checks can hook the denoiser's blocks (not inside OpenVINO or a
        compiled forward: stops act between denoiser calls there)."""
        return self.used == "torch" and not self.torch_compile

    def warnings(self) -> list[str]:
        """What the result and the log should say: a loud fallback, int8 that could not run."""
        said = [f"backend {self.setting}: {self.reason}"] if self.loud else []
        if self.int8_missing is not None:
            said.append(f"openvino_int8: {self.int8_missing}; the UNet ran in OpenVINO's own precision")
        return said

    def to_json(self) -> dict[str, Any]:
        return {
            "setting": self.setting,
            "used": self.used,
            "reason": self.reason,
            "torch_compile": self.torch_compile,
            "channels_last": self.channels_last,
            "openvino_int8": self.openvino_int8,
            "quantize_unet": self.quantize_unet,
            "quantize_text_encoder": self.quantize_text_encoder,
        }


def choose_backend(
    setting: str,
    *,
    on_cpu: bool,
    cpu_bf16: bool,
    family: str,
    weights_bytes: int | None,
    refusals: Mapping[str, str],
    openvino_missing: str | None,
) -> tuple[str, str, bool]:
    """(backend used, why, loud) for one job. `refusals`: field -> why OpenVINO cannot run this
    request (`openvino.refusals`, family included); `openvino_missing`: why the package cannot be
    imported, or None."""
    if setting == "torch":
        return "torch", "backend is torch", False
    if setting == "openvino":
        if openvino_missing is not None:
            return "torch", f"{openvino_missing}; this image ran on torch", True
        return "openvino", "backend is openvino", False
    if not on_cpu:
        return "torch", "auto uses openvino on a CPU only; this device runs torch", False
    if not cpu_bf16:
        return "torch", "this CPU has no AVX-512 BF16 or AMX: openvino measured no faster there", False
    if weights_bytes is not None and weights_bytes < AUTO_MIN_WEIGHTS_BYTES:
        size = f"{weights_bytes / 2**20:.0f} MB"
        return "torch", f"a small model ({size} of fp32 weights): openvino does not pay there", False
    if refusals:
        why = "; ".join(f"{field}: {message}" for field, message in refusals.items())
        return "torch", f"openvino cannot run this job ({why}); this image ran on torch", True
    if openvino_missing is not None:
        return "torch", f"{openvino_missing}; this image ran on torch", True
    return "openvino", "a full-size model on a CPU: openvino (measured faster, docs/performance.md)", False
