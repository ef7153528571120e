"""What runs a loaded model: the backend (torch or openvino) and its weight quantization.

The engine asks `Acceleration` three things, each from the live config (Settings and the
options API change it without a restart):
- `check`: the request's problems with the chosen backend and quantization, by field, before
  the job is queued (`openvino.refusals`, `quantize.refusal`);
- `load`: the loaded model with its components quantized as configured (a model quantized
  otherwise, or not at all, is loaded again: quantization is in place and one-way);
- `running`: a context in which the UNet and VAE decoder run on the chosen backend. With
  `openvino` chosen but not installed it runs on torch and says so in the result's warnings
  and the log (never silently).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from studio.config import StudioConfig
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
        return loaded

    @contextmanager
    def running(
        self, loaded: Any, vae: Any, loras: list[tuple[str, Any]], warnings: list[str]
    ) -> Iterator[None]:
        """The UNet and VAE decoder of `loaded` (or the request's `vae`: (entry, module)) on the
        configured backend; `loras`: the fused LoRA set as (SHA-256, weights)."""
        if self._config().backend != "openvino":
            yield
            return
        from studio.pipeline.backends.openvino import unavailable_reason

        reason = unavailable_reason()
        if reason is not None:
            message = f"backend openvino: {reason}; this image ran on torch"
            log.warning(message)
            if message not in warnings:
                warnings.append(message)
            yield
            return
        vae_module = loaded.pipe.vae if vae is None else vae[1]
        vae_sha = loaded.entry.sha256 if vae is None else vae[0].sha256
        with self.openvino.running(
            loaded.entry.sha256, loaded.pipe.unet, vae_module, vae_sha, loras, warnings
        ):
            yield
