"""The prompt's LoRAs on the SDXL refiner, for one job.

A1111 and Forge load the refiner checkpoint in the middle of the job and activate the prompt's
extra networks on it again, so a LoRA applies to the refiner wherever its layers fit. Here:
each LoRA whose modules all match a layer of the refiner (its UNet and text encoder) with the
layer's shape is applied to the refiner for the job; one that does not fit (a LoRA made for
the SDXL base, on the real SDXL refiner: other layers, other widths) is skipped, named in the
result's warnings and in the infotext (`Refiner LoRAs skipped`). When the job ends the
refiner's weights are put back bit for bit (the patcher keeps the originals).

An SDXL model used as the refiner (A1111 allows any SDXL model) has the base's layers, so an
SDXL LoRA applies to it as it does to the base.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from studio.pipeline.networks.activation import PATCHED_COMPONENTS, NetworkPlan, Networks
from studio.pipeline.networks.lora_keys import ModuleTable
from studio.pipeline.networks.lora_math import ShapeError, delta
from studio.pipeline.networks.patcher import NetworkApplyError, NetworkUse, _plan


def mismatch(components: dict[str, Any], use: NetworkUse) -> str | None:
    """Why `use` does not fit these modules (a key matching no layer, a shape that differs),
    or None when it fits. Shapes only: nothing is computed at full size."""
    import torch

    table = ModuleTable(components)
    try:
        plan = _plan(table, [use])
    except NetworkApplyError as error:
        return str(error)
    for target, contributions in plan.items():
        weight = table.module(target).weight
        for _use, module in contributions:
            tensors = module.tensors
            if module.kind == "lora" and "mid" not in tensors:
                up, down = tensors["up"], tensors["down"]
                if up.shape[0] != weight.shape[0] or down[0].numel() != weight[0].numel():
                    return (
                        f"{module.key}: the network's weights (out {up.shape[0]}, in {down[0].numel()}) do "
                        f"not fit the layer's shape {tuple(weight.shape)}"
                    )
                continue
            meta = dataclasses.replace(module, tensors={k: v.to("meta") for k, v in tensors.items()})
            try:
                delta(meta, torch.empty(weight.shape, device="meta"), use.dyn)
            except (ShapeError, RuntimeError) as error:
                return str(error)
    return None


class RefinerLoras:
    """For one job: `apply(plan)` before each run of images puts the plan's fitting LoRAs on the
    refiner (when there is one) and returns the plan with the skipped ones named; leaving the
    `with` block restores the refiner."""

    def __init__(self, networks: Networks, refiner: Any, warnings: list[str]) -> None:
        self.networks = networks
        self.refiner = refiner
        self.warnings = warnings
        self._patched = False

    def __enter__(self) -> RefinerLoras:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._patched:
            self.networks.apply(self.refiner.pipe, NetworkPlan("", ""), self.refiner.family.name)
            self._patched = False

    def apply(self, plan: NetworkPlan) -> NetworkPlan:
        if self.refiner is None or not (plan.loras or self._patched):
            return plan
        pipe = self.refiner.pipe
        family = self.refiner.family.name
        components = {
            name: getattr(pipe, name) for name in PATCHED_COMPONENTS if getattr(pipe, name, None) is not None
        }
        fitting, skipped = [], []
        for item in plan.loras:
            reason = mismatch(components, self.networks.lora_use(item, family, pipe.unet.config))
            if reason is None:
                fitting.append(item)
                continue
            skipped.append(item.mentioned_name)
            warning = (
                f"LoRA {item.mentioned_name!r} is not applied to the refiner {self.refiner.entry.model_name}: "
                f"it does not fit its layers ({reason})"
            )
            if warning not in self.warnings:
                self.warnings.append(warning)
        self.networks.apply(pipe, dataclasses.replace(plan, loras=fitting, embeddings=[]), family)
        self._patched = True
        return dataclasses.replace(plan, refiner_skipped=tuple(skipped))
