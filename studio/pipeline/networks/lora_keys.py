"""Which module of the model a LoRA module key patches.

Three spellings are found in the files people download:

- kohya / A1111 (and LyCORIS): `lora_unet_down_blocks_0_attentions_0_proj_in`,
  `lora_te_text_model_encoder_layers_0_self_attn_q_proj` (`lora_te1_` / `lora_te2_` for the two
  SDXL encoders): the diffusers / transformers module path with `.` written as `_`.
- the same prefixes with the original (LDM) UNet layout: `lora_unet_input_blocks_1_1_proj_in`,
  `lora_unet_middle_block_1_...`, `lora_unet_output_blocks_...` (SDXL kohya files, some
  trainers): mapped onto the diffusers blocks from the UNet's own config.
- diffusers / PEFT: `unet.down_blocks.0.attentions.0.proj_in`, `text_encoder.text_model...`,
  `transformer.transformer_blocks.0.attn.to_q` (SD 3.5, Flux, Z-Image), older
  `...attn1.processor.to_q_lora`.

The transformer families' original layer names (Flux's fused `qkv`, SD 3.5's `joint_blocks`)
are rewritten onto these first (`transformer_lora`).

transformers 5 dropped the `text_model.` level of CLIP's module names; both are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# kohya prefix -> the components it may name, first found wins: sd-scripts writes Flux.1's T5
# as `lora_te3_` though diffusers' Flux pipeline calls it text_encoder_2; `lora_unet_` is the
# denoiser, a transformer in the families that have no UNet
KOHYA_PREFIXES = {
    "lora_unet_": ("unet", "transformer"),
    "lora_te_": ("text_encoder",),
    "lora_te1_": ("text_encoder",),
    "lora_te2_": ("text_encoder_2",),
    "lora_te3_": ("text_encoder_3", "text_encoder_2"),
}
DOTTED_COMPONENTS = ("unet", "transformer", "text_encoder", "text_encoder_2", "text_encoder_3")
DENOISERS = ("unet", "transformer")
PROCESSOR_NAMES = {"to_q_lora": "to_q", "to_k_lora": "to_k", "to_v_lora": "to_v", "to_out_lora": "to_out.0"}
RESNET_NAMES = {
    "in_layers_2": "conv1",
    "out_layers_3": "conv2",
    "emb_layers_1": "time_emb_proj",
    "skip_connection": "conv_shortcut",
}
LDM_TOP = {
    "time_embed_0": "time_embedding_linear_1",
    "time_embed_2": "time_embedding_linear_2",
    "label_emb_0_0": "add_embedding_linear_1",
    "label_emb_0_2": "add_embedding_linear_2",
    "input_blocks_0_0": "conv_in",
    "out_2": "conv_out",
}


@dataclass(frozen=True)
class Target:
    component: str  # unet | transformer | text_encoder | text_encoder_2 | text_encoder_3
    name: str  # the module path inside that component


class ModuleTable:
    """The patchable modules (Linear, Conv2d) of a pipeline's UNet and text encoders, found by
    dotted path or by kohya's underscored path."""

    def __init__(self, components: Mapping[str, Any]) -> None:
        import torch

        self.components = dict(components)
        self.modules: dict[str, dict[str, Any]] = {}
        self.underscored: dict[str, dict[str, str]] = {}
        for component, model in self.components.items():
            found = {
                name: module
                for name, module in model.named_modules()
                if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d))
            }
            self.modules[component] = found
            self.underscored[component] = {name.replace(".", "_"): name for name in found}
        unet = self.components.get("unet")
        self._unet_layout = _UnetLayout(unet.config) if unet is not None else None

    def module(self, target: Target) -> Any:
        return self.modules[target.component][target.name]

    def resolve(self, key: str) -> Target | None:
        """The module `key` patches, or None when this model has no such module."""
        for prefix, components in KOHYA_PREFIXES.items():
            if key.startswith(prefix):
                for component in components:
                    target = self._underscored(component, key[len(prefix) :])
                    if target is not None:
                        return target
                return None
        head, _, rest = key.partition(".")
        if head in DOTTED_COMPONENTS and rest:
            return self._dotted(head, rest)
        denoiser = next((name for name in DENOISERS if name in self.components), "unet")
        for prefix in ("base_model.model.", "diffusion_model."):  # PEFT's bare model; ComfyUI
            if key.startswith(prefix):
                return self._dotted(denoiser, key[len(prefix) :])
        return None

    def _underscored(self, component: str, path: str) -> Target | None:
        table = self.underscored.get(component)
        if table is None:
            return None
        candidates = [path]
        if component.startswith("text_encoder"):
            candidates.append(path.removeprefix("text_model_"))
            candidates.append("text_model_" + path)
        elif self._unet_layout is not None:
            mapped = self._unet_layout.to_diffusers(path)
            if mapped is not None:
                candidates.append(mapped)
        for candidate in candidates:
            if candidate in table:
                return Target(component, table[candidate])
        return None

    def _dotted(self, component: str, path: str) -> Target | None:
        modules = self.modules.get(component)
        if modules is None:
            return None
        parts = path.split(".")
        if len(parts) >= 2 and parts[-2] == "processor" and parts[-1] in PROCESSOR_NAMES:
            parts = [*parts[:-2], PROCESSOR_NAMES[parts[-1]]]
        path = ".".join(parts)
        candidates = [path]
        if component.startswith("text_encoder"):
            candidates += [path.removeprefix("text_model."), "text_model." + path]
        for candidate in candidates:
            if candidate in modules:
                return Target(component, candidate)
        return self._underscored(component, path.replace(".", "_"))


class _UnetLayout:
    """Maps the original (LDM) UNet block names onto diffusers' blocks, as laid out by the
    UNet's config (layers per block, which blocks have attention)."""

    def __init__(self, config: Any) -> None:
        layers = config.layers_per_block
        count = len(config.down_block_types)
        self.down_layers = list(layers) if isinstance(layers, (list, tuple)) else [layers] * count
        self.up_layers = [n + 1 for n in reversed(self.down_layers)]
        self.up_attention = ["CrossAttn" in name for name in config.up_block_types]

    def to_diffusers(self, path: str) -> str | None:
        for ldm, diffusers in LDM_TOP.items():
            if path == ldm:
                return diffusers
        match = re.fullmatch(r"input_blocks_(\d+)_(\d+)_(.+)", path)
        if match:
            return self._down(int(match.group(1)), int(match.group(2)), match.group(3))
        match = re.fullmatch(r"middle_block_(\d+)_(.+)", path)
        if match:
            index, rest = int(match.group(1)), match.group(2)
            if index == 1:
                return f"mid_block_attentions_0_{rest}"
            return f"mid_block_resnets_{index // 2}_{RESNET_NAMES.get(rest, rest)}"
        match = re.fullmatch(r"output_blocks_(\d+)_(\d+)_(.+)", path)
        if match:
            return self._up(int(match.group(1)), int(match.group(2)), match.group(3))
        return None

    def _down(self, index: int, sub: int, rest: str) -> str | None:
        position = index - 1
        for block, layers in enumerate(self.down_layers):
            if position < layers + 1:
                if position == layers:  # the downsampler after the block's layers
                    return f"down_blocks_{block}_downsamplers_0_conv" if rest == "op" else None
                if sub == 0:
                    return f"down_blocks_{block}_resnets_{position}_{RESNET_NAMES.get(rest, rest)}"
                return f"down_blocks_{block}_attentions_{position}_{rest}"
            position -= layers + 1
        return None

    def _up(self, index: int, sub: int, rest: str) -> str | None:
        position = index
        for block, layers in enumerate(self.up_layers):
            if position < layers:
                if sub == 0:
                    return f"up_blocks_{block}_resnets_{position}_{RESNET_NAMES.get(rest, rest)}"
                if sub == 1 and self.up_attention[block]:
                    return f"up_blocks_{block}_attentions_{position}_{rest}"
                return f"up_blocks_{block}_upsamplers_0_{rest}"
            position -= layers
        return None
