"""The built-in memory strategies, the registry of one studio's strategies, and
`apply_memory_options`.

A `MemoryStrategyRegistry` holds the built-in strategies (`builtin_strategies`) and those of
extensions, all added through the `register_memory_strategies` hook
(`studio.scripts.registries` builds it). The functions take any mapping of strategies by name;
without one they use the built-ins (what a caller outside a studio, like a test, wants).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from studio.devices.base import DeviceChoice
from studio.memory import t5_on_cpu


class MemoryStrategyError(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"memory.{name}: {message}")
        self.name = name


@dataclass(frozen=True)
class MemoryStrategy:
    name: str
    apply: Callable[[Any, Mapping[str, Any], DeviceChoice], None]  # (pipe, options, device)
    description: str
    places_model: bool = False  # True when the strategy moves modules between devices itself


def _attention_slicing(pipe: Any, options: Mapping[str, Any], device: DeviceChoice) -> None:
    pipe.enable_attention_slicing(options.get("slice_size", "auto"))


def _vae_slicing(pipe: Any, options: Mapping[str, Any], device: DeviceChoice) -> None:
    pipe.vae.enable_slicing()


def _vae_tiling(pipe: Any, options: Mapping[str, Any], device: DeviceChoice) -> None:
    pipe.vae.enable_tiling()


def _require_accelerator(name: str, device: DeviceChoice) -> None:
    if device.is_cpu:
        raise MemoryStrategyError(
            name,
            "CPU offload moves weights from the CPU to a GPU between steps; it needs a GPU device, not cpu",
        )


def _model_cpu_offload(pipe: Any, options: Mapping[str, Any], device: DeviceChoice) -> None:
    _require_accelerator("model_cpu_offload", device)
    pipe.enable_model_cpu_offload(device=device.device)


def _sequential_cpu_offload(pipe: Any, options: Mapping[str, Any], device: DeviceChoice) -> None:
    _require_accelerator("sequential_cpu_offload", device)
    pipe.enable_sequential_cpu_offload(device=device.device)


def _token_merging(pipe: Any, options: Mapping[str, Any], device: DeviceChoice) -> None:
    if importlib.util.find_spec("tomesd") is None:
        raise MemoryStrategyError("token_merging", "needs the tomesd package (pip install tomesd)")
    tomesd = importlib.import_module("tomesd")
    ratio = float(options.get("ratio", 0.5))
    if not 0 < ratio < 1:
        raise MemoryStrategyError("token_merging", f"ratio {ratio} is out of range (0, 1)")
    tomesd.apply_patch(pipe, ratio=ratio, max_downsample=int(options.get("max_downsample", 1)))


def builtin_strategies() -> dict[str, MemoryStrategy]:
    strategies = (
        MemoryStrategy(
            "attention_slicing", _attention_slicing, "compute attention in slices (less peak memory)"
        ),
        MemoryStrategy("vae_slicing", _vae_slicing, "decode a batch one image at a time"),
        MemoryStrategy("vae_tiling", _vae_tiling, "encode/decode large images in tiles"),
        MemoryStrategy(
            "model_cpu_offload", _model_cpu_offload, "keep models on CPU, move each to GPU when used", True
        ),
        MemoryStrategy(
            "sequential_cpu_offload",
            _sequential_cpu_offload,
            "stream submodules to the GPU (slowest, least VRAM)",
            True,
        ),
        MemoryStrategy("token_merging", _token_merging, "merge redundant tokens in attention (tomesd)"),
        MemoryStrategy(
            t5_on_cpu.NAME,
            t5_on_cpu.keep_t5_on_cpu,
            "keep the T5 text encoder (SD 3.5, Flux, Chroma) on the CPU; prompts are encoded there",
            True,
        ),
    )
    return {strategy.name: strategy for strategy in strategies}


class MemoryStrategyRegistry(Mapping[str, MemoryStrategy]):
    """The memory strategies one studio can apply, by name, in the order they were added (a
    read-only mapping, so it is what `apply_memory_options(..., strategies=)` takes)."""

    def __init__(self) -> None:
        self._strategies: dict[str, MemoryStrategy] = {}

    def add(self, strategy: MemoryStrategy) -> None:
        """Add a strategy; a name that is already taken is refused (ValueError)."""
        if strategy.name in self._strategies:
            raise ValueError(f"a memory strategy named {strategy.name!r} is already registered")
        self._strategies[strategy.name] = strategy

    def names(self) -> list[str]:
        return list(self._strategies)

    def __getitem__(self, name: str) -> MemoryStrategy:
        return self._strategies[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._strategies)

    def __len__(self) -> int:
        return len(self._strategies)


def _enabled(value: Any) -> tuple[bool, Mapping[str, Any]]:
    if isinstance(value, Mapping):
        return bool(value.get("enabled", True)), value
    return bool(value), {}


def moves_model_itself(
    options: Mapping[str, Any], strategies: Mapping[str, MemoryStrategy] | None = None
) -> bool:
    """Whether an enabled strategy places the modules itself (then the loader must not .to(device))."""
    strategies = strategies or builtin_strategies()
    return any(
        _enabled(value)[0] and name in strategies and strategies[name].places_model
        for name, value in options.items()
    )


def apply_memory_options(
    pipe: Any,
    options: Mapping[str, Any],
    device: DeviceChoice,
    strategies: Mapping[str, MemoryStrategy] | None = None,
) -> list[str]:
    """Apply each enabled strategy named in `options`; returns the names applied.

    A value is `true`/`false` or an options object (`{"ratio": 0.4}`; `"enabled": false` turns it off).
    """
    strategies = strategies or builtin_strategies()
    unknown = sorted(set(options) - set(strategies))
    if unknown:
        raise MemoryStrategyError(unknown[0], f"unknown strategy; choose from: {', '.join(strategies)}")
    applied = []
    for name, value in options.items():
        enabled, strategy_options = _enabled(value)
        if enabled:
            strategies[name].apply(pipe, strategy_options, device)
            applied.append(name)
    return applied
