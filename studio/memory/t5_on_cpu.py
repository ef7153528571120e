"""The `t5_on_cpu` memory strategy: a pipeline's T5 text encoder stays on the CPU.

SD 3.5, Flux.1 (and Flux.1 Fill) and Chroma encode the prompt with T5-XXL: 4.76 B parameters,
9.5 GB in 16 bits, a third of Flux's weights, run once per prompt. Keeping it on the CPU frees
that much GPU memory for the price of encoding each prompt there (seconds). The studio encodes
these families' prompts itself (`studio.pipeline.families.t5_conditioning`): the tokens go to
the encoder's device and the embeddings come back on the pipeline's device in the denoiser's
dtype, so the encoder can live anywhere in any dtype.

Options: `dtype`: `auto` (the default: bfloat16 when the model is in 16 bits - fp16 overflows
in T5 and CPUs run bf16 natively - float32 when the model is), `bf16` or `fp32`.
On a GPU the other parts go to the GPU as usual (the loader leaves the placing to this
strategy, so the T5 never passes through the GPU); on a CPU device everything is on the CPU
already and only the dtype applies. A CPU offload (`model_cpu_offload`,
`sequential_cpu_offload`) already moves the T5 off the GPU between uses and places every part
itself: the two together are refused. A model without a T5 (SD 1.x, SDXL, Z-Image) is placed
on the device as usual, and its result's `runtime.memory.note` says the strategy had nothing
to move (so one `memory` setting serves every family).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from studio.devices.base import DeviceChoice

NAME = "t5_on_cpu"
DTYPES = ("auto", "bf16", "fp32")


def t5_encoders(pipe: Any) -> dict[str, Any]:
    """The pipeline's T5 text encoders by component name (text_encoder_3 for SD 3.5,
    text_encoder_2 for Flux.1, text_encoder for Chroma); empty for families without one."""
    found = {}
    for name, component in pipe.components.items():
        if name.startswith("text_encoder") and type(component).__name__.startswith(("T5", "UMT5")):
            found[name] = component
    return found


def _offloaded(module: Any) -> bool:
    return hasattr(module, "_hf_hook")


def t5_gpu_bytes(pipe: Any) -> int:
    """Bytes of T5 weights on an accelerator now (0: no T5, or it is on the CPU or offloaded
    already): what the strategy would free there."""
    total = 0
    for encoder in t5_encoders(pipe).values():
        if _offloaded(encoder):
            continue
        total += sum(p.numel() * p.element_size() for p in encoder.parameters() if p.device.type != "cpu")
    return total


def t5_kept_on_cpu(pipe: Any) -> bool:
    """Whether the pipeline has a T5 and this strategy's placing holds: on the CPU, no offload."""
    encoders = list(t5_encoders(pipe).values())
    return (
        bool(encoders)
        and not any(_offloaded(encoder) for encoder in encoders)
        and all(p.device.type == "cpu" for encoder in encoders for p in encoder.parameters())
    )


def cpu_dtype(option: Any, current: Any) -> Any:
    """The dtype the T5 runs in on the CPU."""
    import torch

    from studio.memory.strategies import MemoryStrategyError

    if option not in DTYPES:
        raise MemoryStrategyError(NAME, f"dtype: expected one of {', '.join(DTYPES)}, got {option!r}")
    if option == "fp32" or (option == "auto" and current == torch.float32):
        return torch.float32
    return torch.bfloat16


def keep_t5_on_cpu(pipe: Any, options: Mapping[str, Any], device: DeviceChoice) -> None:
    """Put the T5 encoder(s) on the CPU (in the option's dtype) and every other part on the
    device, leaving alone what an offload already places."""
    from studio.memory.strategies import MemoryStrategyError

    encoders = t5_encoders(pipe)
    if any(_offloaded(encoder) for encoder in encoders.values()):
        raise MemoryStrategyError(
            NAME,
            "the model is CPU-offloaded (model_cpu_offload / sequential_cpu_offload already move the "
            "T5 off the GPU between uses): use one or the other",
        )
    for name, component in pipe.components.items():
        if not hasattr(component, "to") or not hasattr(component, "parameters"):
            continue  # tokenizers, schedulers
        if name in encoders:
            component.to("cpu", cpu_dtype(options.get("dtype", "auto"), component.dtype))
        elif not _offloaded(component):
            component.to(device.device)
