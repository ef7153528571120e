"""Put a set of LoRAs on a loaded model's UNet and text encoder, and take them off exactly.

One `NetworkPatcher` per loaded model (the set of modules its pipelines share). `apply` is a
no-op when the same set (same files, same weights) is already on; otherwise it first puts the
base weights back, then applies the new set:

- fused (the default): the summed changes of every network are added into each layer's weight
  once, so a step costs what it costs without LoRAs. The layer's original weight is kept (on the
  CPU, like A1111) and copied back on restore: the base weights come back bit for bit, however
  many sets were applied in between.
- unfused (`fuse=False`, and always for a layer whose weight cannot be written, e.g. quantized
  or offloaded to the meta device): a forward hook adds each network's low-rank path to the
  layer's output; the weights are never touched, each step pays for the extra matmuls.

A network whose keys match no layer of this model, or whose shapes do not fit, is an error
naming the network and its first unmatched keys; the model is left as it was before the call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from studio.pipeline.networks.lora_format import LoraFile
from studio.pipeline.networks.lora_keys import ModuleTable, Target
from studio.pipeline.networks.lora_math import (
    DeltaPath,
    LowRankPath,
    ShapeError,
    add_change,
    bias_delta,
    delta,
)


class NetworkApplyError(ValueError):
    """A network that does not fit this model; the message names it."""


@dataclass(frozen=True)
class NetworkUse:
    """One LoRA file with the weights a prompt asks for."""

    name: str  # as the prompt named it
    file: LoraFile
    identity: tuple[str, int, int]  # (path, size, mtime_ns): a changed file is a different network
    te: float
    unet: float
    dyn: int | None = None

    def multiplier(self, target: Target) -> float:
        return self.te if target.component.startswith("text_encoder") else self.unet


class NetworkPatcher:
    def __init__(self) -> None:
        self.signature: tuple[Any, ...] = ()
        self.fused_layers = 0
        self.hooked_layers = 0
        self._weights: dict[Target, Any] = {}  # original weights of the fused layers
        self._biases: dict[Target, Any] = {}
        self._hooks: list[Any] = []

    @property
    def active(self) -> bool:
        return bool(self.signature)

    def apply(self, components: dict[str, Any], uses: Sequence[NetworkUse], fuse: bool = True) -> bool:
        """Make `uses` the networks on these modules. Returns True when anything changed."""
        signature = self._signature(uses, fuse)
        if signature == self.signature:
            return False
        table = ModuleTable(components)
        self.restore(table)
        if not signature:
            return True
        plan = _plan(table, uses)
        try:
            for target, contributions in plan.items():
                layer = table.module(target)
                if fuse and _writable(layer):
                    self._fuse(target, layer, contributions)
                else:
                    self._hook(target, layer, contributions)
        except (ShapeError, RuntimeError) as error:
            self.restore(table)
            raise NetworkApplyError(str(error)) from error
        self.signature = signature
        return True

    def restore(self, table: ModuleTable | dict[str, Any]) -> None:
        """Put every patched layer back as it was loaded."""
        import torch

        if not isinstance(table, ModuleTable):
            table = ModuleTable(table)
        for handle in self._hooks:
            handle.remove()
        self._hooks.clear()
        with torch.no_grad():
            for target, original in self._weights.items():
                table.module(target).weight.copy_(original)
            for target, original in self._biases.items():
                table.module(target).bias.copy_(original)
        self._weights.clear()
        self._biases.clear()
        self.signature = ()
        self.fused_layers = self.hooked_layers = 0

    def _fuse(self, target: Target, layer: Any, contributions: list[tuple[NetworkUse, Any]]) -> None:
        import torch

        weight = layer.weight
        with torch.no_grad():
            self._weights[target] = weight.detach().to("cpu", copy=True)
            # float32 layers change in place; others through a float32 copy, rounded once
            work = weight if weight.dtype == torch.float32 else weight.float()
            bias_total = None
            for use, module in contributions:
                factor = use.multiplier(target)
                add_change(work, module, factor, use.dyn)
                extra = bias_delta(module, layer.bias)
                if extra is not None:
                    bias_total = extra * factor if bias_total is None else bias_total + extra * factor
            if work is not weight:
                weight.copy_(work.to(weight.dtype))
            if bias_total is not None:
                self._biases[target] = layer.bias.detach().to("cpu", copy=True)
                layer.bias.copy_((layer.bias.float() + bias_total).to(layer.bias.dtype))
        self.fused_layers += 1

    def _hook(self, target: Target, layer: Any, contributions: list[tuple[NetworkUse, Any]]) -> None:
        paths: list[Any] = []
        for use, module in contributions:
            factor = use.multiplier(target)
            if module.kind == "lora":
                paths.append(LowRankPath(module, layer, factor, use.dyn))
            else:
                change = delta(module, layer.weight.float(), use.dyn) * factor
                bias = bias_delta(module, layer.bias)
                paths.append(DeltaPath(change, layer, None if bias is None else bias * factor))

        def add_paths(_layer: Any, inputs: tuple[Any, ...], output: Any) -> Any:
            for path in paths:
                output = output + path(inputs[0])
            return output

        self._hooks.append(layer.register_forward_hook(add_paths))
        self.hooked_layers += 1

    @staticmethod
    def _signature(uses: Sequence[NetworkUse], fuse: bool) -> tuple[Any, ...]:
        active = tuple((use.identity, use.te, use.unet, use.dyn) for use in uses if use.te or use.unet)
        return (fuse, active) if active else ()


def _plan(table: ModuleTable, uses: Sequence[NetworkUse]) -> dict[Target, list[tuple[NetworkUse, Any]]]:
    """Each layer to patch with the (network, module weights) that touch it; NetworkApplyError
    naming the network when some of its keys match no layer of this model."""
    plan: dict[Target, list[tuple[NetworkUse, Any]]] = {}
    for use in uses:
        unmatched = []
        for module in use.file.modules:
            target = table.resolve(module.key)
            if target is None:
                unmatched.append(module.key)
                continue
            if use.multiplier(target) == 0:
                continue
            plan.setdefault(target, []).append((use, module))
        if unmatched:
            components = ", ".join(sorted(table.components))
            raise NetworkApplyError(
                f"LoRA {use.name!r} ({use.file.path.name}): {len(unmatched)} of {len(use.file.modules)} "
                f"modules match no layer of this model ({components}), e.g. {', '.join(unmatched[:3])}; "
                "is it made for another model family (SD 1.x, SDXL, SD 3.5, Flux.1, Z-Image)?"
            )
    return plan


def _writable(layer: Any) -> bool:
    import torch

    weight = getattr(layer, "weight", None)
    return (
        type(weight) in (torch.nn.Parameter, torch.Tensor)
        and weight.is_floating_point()
        and weight.device.type != "meta"
    )
