"""Memory strategies, a registry keyed by name, applied to a loaded pipeline from `config.memory`.

    config.memory = {"attention_slicing": {"slice_size": "auto"}, "vae_tiling": True}

Built-ins: attention_slicing, vae_slicing, vae_tiling, model_cpu_offload,
sequential_cpu_offload (GPU only), token_merging (needs the `tomesd` package), t5_on_cpu (the
T5 text encoder of SD 3.5 / Flux / Chroma kept on the CPU: `studio.memory.t5_on_cpu`); extensions add
more through the `register_memory_strategies` hook (a `MemoryStrategyRegistry` per studio).
Quantization is not here yet.
"""

from studio.memory.strategies import (
    MemoryStrategy,
    MemoryStrategyError,
    MemoryStrategyRegistry,
    apply_memory_options,
    builtin_strategies,
    moves_model_itself,
)

__all__ = [
    "MemoryStrategy",
    "MemoryStrategyError",
    "MemoryStrategyRegistry",
    "apply_memory_options",
    "builtin_strategies",
    "moves_model_itself",
]
