"""The engine's ControlNet part: check a request's units, load their models (kept while used),
make their control images, and write their infotext."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from studio.controlnet import models as controlnet_models
from studio.controlnet import preprocessors
from studio.controlnet.units import ControlNetUnit, check_unit, unit_infotext
from studio.pipeline.controlnet.units import PreparedUnit, control_image, control_modes
from studio.pipeline.loader import ModelLoadError
from studio.request import GenerationRequest, RequestError


class ControlNets:
    def __init__(self, models_path: Path, allow_pickle: bool = False) -> None:
        self.models_path = models_path
        self.allow_pickle = allow_pickle
        self._loaded: dict[str, Any] = {}  # sha256 -> ControlNetModel, the last request's only

    def models(self) -> list[controlnet_models.ControlNetFile]:
        return controlnet_models.scan(self.models_path, self.allow_pickle)

    def units(self, request: GenerationRequest) -> list[ControlNetUnit]:
        return [ControlNetUnit.from_json(data) for data in request.controlnet_units]

    def check(self, request: GenerationRequest) -> None:
        """Every unit's fields, model and preprocessor; RequestError naming the first bad one."""
        if not request.controlnet_units:
            return
        installed = self.models()
        for index, unit in enumerate(self.units(request)):
            prefix = f"controlnet.args[{index}]"
            check_unit(unit, prefix)
            controlnet_models.find(installed, unit.model, f"{prefix}.model")
            preprocessors.check_available(
                unit.module, self._annotators, self.allow_pickle, f"{prefix}.module"
            )

    @property
    def _annotators(self) -> Path:
        return self.models_path / controlnet_models.FOLDER / controlnet_models.ANNOTATORS

    def prepare(self, request: GenerationRequest, device: Any, dtype: Any) -> list[PreparedUnit]:
        """Loaded models and control images of the request's units (none: an empty list)."""
        if not request.controlnet_units:
            return []
        from studio.pipeline.controlnet.loading import load_controlnet

        installed = self.models()
        prepared = []
        wanted: set[str] = set()
        for index, unit in enumerate(self.units(request)):
            model = controlnet_models.find(installed, unit.model, f"controlnet.args[{index}].model")
            wanted.add(model.sha256)
            if model.sha256 not in self._loaded:
                try:
                    self._loaded[model.sha256] = load_controlnet(model, self.allow_pickle).to(device, dtype)
                except ModelLoadError as error:
                    raise RequestError(f"controlnet.args[{index}].model", str(error)) from error
            image = control_image(
                unit, request.width, request.height, self.models_path, index, self.allow_pickle
            )
            prepared.append(PreparedUnit(unit, model, self._loaded[model.sha256], image))
        for stale in set(self._loaded) - wanted:  # keep only what this request uses
            del self._loaded[stale]
        return prepared

    @contextlib.contextmanager
    def modes(self, prepared: list[PreparedUnit], cfg_scale: float) -> Iterator[None]:
        with control_modes(prepared, classifier_free=cfg_scale > 1.0):
            yield

    def infotext(self, prepared: list[PreparedUnit]) -> dict[str, str]:
        return {f"ControlNet {i}": unit_infotext(p.unit, p.model.title) for i, p in enumerate(prepared)}
