"""What runs a loaded model: the backend (auto, torch or openvino), torch.compile and
channels-last, and its weight quantization.

The engine asks `Acceleration` three things, each from the live config (Settings and the
options API change it without a restart):
- `check`: the request's problems with the chosen backend and quantization, by field, before
  the job is queued (`openvino.refusals` when backend is openvino, `quantize.refusal`);
- `load`: the loaded model with its components quantized as configured (a model quantized
  otherwise, or not at all, is loaded again: quantization is in place and one-way) and its
  UNet and VAE weights in the configured memory format (channels-last or not, in place);
- `running`: a context, given the job's request, in which the UNet and VAE decoder run on the
  backend `choice.choose_backend` picks (auto: OpenVINO for full-size SD models on a CPU; a
  fallback to torch is said in the result's warnings and the log, never silently), the torch
  denoiser's forward compiled when `torch_compile` is on; it yields the `BackendChoice` that the
  result's `runtime.backend` reports.
"""

from __future__ import annotations

import functools
import logging
import types
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from studio.config import StudioConfig
from studio.pipeline.backends.choice import BackendChoice, choose_backend
from studio.pipeline.quantize import (
    Quantization,
    QuantizationUnavailable,
    check_installed,
    quantize_pipeline,
    refusal,
    wanted,
)
from studio.request import GenerationRequest, Problems, RequestError

log = logging.getLogger(__name__)

# width/height multiple the traced UNet needs, by family (8 px x 2^(up blocks - 1))
OPENVINO_SIZE_STEP = {"sd15": 64, "sd2": 64, "sdxl": 32}


class Acceleration:
    def __init__(self, config: Callable[[], StudioConfig]) -> None:
        """`config` reads the engine's live config."""
        self._config = config
        self._openvino: Any = None  # OpenVinoBackend, made on first use
        # denoiser module -> its compiled forward (compiled once per loaded module)
        self._compiled: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    @property
    def openvino(self) -> Any:
        if self._openvino is None:
            from studio.pipeline.backends.openvino import OpenVinoBackend

            self._openvino = OpenVinoBackend(self._config().models_path)
        return self._openvino

    def check(self, request: GenerationRequest, entry: Any, has_loras: bool) -> None:
        """RequestError(s) naming each field the backend or quantization cannot take for the
        request on model `entry`."""
        from studio.pipeline.families import family_of, identify

        found_family = family_of(entry.architecture or identify(entry.path, entry.format))
        family = "unknown" if found_family is None else found_family.name
        config = self._config()
        quantization = wanted(config)
        problems = Problems()
        with problems.check():
            try:
                check_installed(quantization)
            except QuantizationUnavailable as error:
                raise RequestError(error.field, str(error)) from None
        found = refusal(quantization, has_loras)
        if found is not None:
            problems.add(RequestError(*found))
        if config.backend == "openvino":
            from studio.pipeline.backends.openvino import refusals

            step = OPENVINO_SIZE_STEP.get(family, 64)
            controlnet = bool(request.controlnet_units)
            quantized = quantization.unet != "none"
            found_here = refusals(family, request.width, request.height, step, controlnet, quantized)
            for name, message in found_here.items():
                problems.add(RequestError(name, message))
        problems.raise_any()

    def load(self, cache: Any, entry: Any, get: Callable[[], Any]) -> Any:
        """The loaded model of `entry` (`get` loads it through `cache`), quantized as configured."""
        quantization = wanted(self._config())
        loaded = get()
        if getattr(loaded, "quantization", Quantization()) != quantization:
            if getattr(loaded, "quantization", Quantization()).any or quantization.any:
                cache.drop(entry)  # in place and one-way: start from the file again
                loaded = get()
            quantize_pipeline(loaded.pipe, quantization)
            loaded.quantization = quantization
        channels_last = self._config().channels_last
        if getattr(loaded, "channels_last", False) != channels_last:
            set_memory_format(loaded.pipe, channels_last)
            loaded.channels_last = channels_last
        return loaded

    def choose(self, request: GenerationRequest, loaded: Any) -> BackendChoice:
        """The backend this job's UNet and VAE decoder run on (`choice.choose_backend`)."""
        from studio.pipeline.families import family_of, identify

        config = self._config()
        entry = loaded.entry
        found = family_of(entry.architecture or identify(entry.path, entry.format))
        family = "unknown" if found is None else found.name
        refused: dict[str, str] = {}
        missing: str | None = None
        quantization = getattr(loaded, "quantization", Quantization())
        if config.backend != "torch":
            from studio.pipeline.backends.openvino import refusals, unavailable_reason

            step = OPENVINO_SIZE_STEP.get(family, 64)
            quantized = quantization.unet != "none"
            refused = refusals(
                family, request.width, request.height, step, bool(request.controlnet_units), quantized
            )
            missing = unavailable_reason()
        used, reason, loud = choose_backend(
            config.backend,
            on_cpu=loaded.device.is_cpu,
            cpu_bf16=_cpu_bf16(),
            family=family,
            weights_bytes=_weights_bytes(entry) if config.backend == "auto" else None,
            refusals=refused,
            openvino_missing=missing,
        )
        int8 = used == "openvino" and config.openvino_int8
        int8_missing = None
        if int8:
            from studio.pipeline.backends.openvino_int8 import unavailable_reason

            int8_missing = unavailable_reason()  # then OpenVINO's own precision, said loudly
        return BackendChoice(
            config.backend,
            used,
            reason,
            loud,
            torch_compile=used == "torch" and config.torch_compile,
            channels_last=getattr(loaded, "channels_last", False),
            openvino_int8=int8 and int8_missing is None,
            int8_missing=int8_missing,
            quantize_unet=quantization.unet,
            quantize_text_encoder=quantization.text_encoder,
        )

    @contextmanager
    def running(
        self,
        request: GenerationRequest,
        loaded: Any,
        vae: Any,
        loras: list[tuple[str, Any]],
        warnings: list[str],
    ) -> Iterator[BackendChoice]:
        """The UNet and VAE decoder of `loaded` (or the request's `vae`: (entry, module)) on the
        backend chosen for `request`; `loras`: the fused LoRA set as (SHA-256, weights)."""
        choice = self.choose(request, loaded)
        for message in choice.warnings():
            if message not in warnings:
                log.warning(message)
                warnings.append(message)
        if choice.used == "torch":
            with self._compiled_denoiser(loaded.pipe, choice.torch_compile):
                yield choice
            return
        vae_module = loaded.pipe.vae if vae is None else vae[1]
        vae_sha = loaded.entry.sha256 if vae is None else vae[0].sha256
        int8_texts = None
        if choice.openvino_int8:
            from studio.pipeline.backends.openvino_int8 import encode_calibration_prompts

            int8_texts = functools.partial(encode_calibration_prompts, loaded.pipe)
        with self.openvino.running(
            loaded.entry.sha256, loaded.pipe.unet, vae_module, vae_sha, loras, warnings, int8_texts
        ):
            yield choice

    @contextmanager
    def _compiled_denoiser(self, pipe: Any, wanted: bool) -> Iterator[None]:
        """Within the block the denoiser's forward is its `torch.compile`d forward (compiled at
        its first call, kept for the loaded module; weights fused in place by a LoRA are read at
        each call, a new size or batch recompiles)."""
        denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
        if not wanted or denoiser is None:
            yield
            return
        import torch

        if denoiser not in self._compiled:
            self._compiled[denoiser] = torch.compile(types.MethodType(type(denoiser).forward, denoiser))
        denoiser.forward = self._compiled[denoiser]
        try:
            yield
        finally:
            del denoiser.forward


def _cpu_bf16() -> bool:
    from studio.devices.dtype_policy import cpu_has_fast_bf16

    return cpu_has_fast_bf16()


def _weights_bytes(entry: Any) -> int | None:
    from studio.pipeline.cost_profile import weights_bytes

    try:
        return weights_bytes(entry, 4)
    except (OSError, ValueError):
        return None


def set_memory_format(pipe: Any, channels_last: bool) -> None:
    """The 4-D weights of the denoiser and the VAE in channels-last (or back to contiguous)."""
    import torch

    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    for name in ("unet", "transformer", "vae"):
        module = getattr(pipe, name, None)
        if module is not None:
            module.to(memory_format=memory_format)
