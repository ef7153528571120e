"""DirectML on Windows (any DirectX 12 GPU) through the optional `torch-directml` package."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any


class DirectMLBackend:
    name = "directml"
    priority = 50

    def __init__(self, module_name: str = "torch_directml") -> None:
        self.module_name = module_name

    def is_available(self, torch: Any) -> bool:
        if importlib.util.find_spec(self.module_name) is None:
            return False
        module = importlib.import_module(self.module_name)
        return bool(module.is_available())

    def device(self, torch: Any, index: int | None = None) -> Any:
        module = importlib.import_module(self.module_name)
        return module.device(index or 0)

    def preferred_dtype(self, torch: Any) -> Any:
        return torch.float16
