"""Read a LoRA / LyCORIS file into per-module weights, and name what it is.

Supported, per module (a file may mix them, as LyCORIS files do):

| kind | keys (after the module key) | written by |
| --- | --- | --- |
| `lora` | `lora_down.weight`, `lora_up.weight` (+ `lora_mid.weight`), `alpha` | kohya sd-scripts, A1111, LyCORIS LoCon (conv layers too) |
| `lora` | `lora_A.weight`, `lora_B.weight`; `lora.down/up.weight`; `*_lora.down/up.weight` | diffusers / PEFT, older diffusers |
| `loha` | `hada_w1_a`, `hada_w1_b`, `hada_w2_a`, `hada_w2_b` (+ `hada_t1`, `hada_t2`), `alpha` | LyCORIS LoHa |
| `lokr` | `lokr_w1` or `lokr_w1_a/b`, `lokr_w2` or `lokr_w2_a/b` (+ `lokr_t2`), `alpha` | LyCORIS LoKr |
| `full` | `diff` (+ `diff_b`) | LyCORIS full / "diff" networks |

Anything else is refused by name (DoRA, (IA)^3, OFT, BOFT, GLoRA, LyCORIS norm layers) or as
"not a LoRA file" with example keys. The module key is kept as written; `lora_keys` finds the
model's module it patches.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# key suffix -> role, longest first so `lora_down.weight` wins over `down.weight`
ROLES: dict[str, str] = {
    "lora_linear_layer.down.weight": "down",
    "lora_linear_layer.up.weight": "up",
    "lora_down.weight": "down",
    "lora_up.weight": "up",
    "lora_mid.weight": "mid",
    "lora.down.weight": "down",
    "lora.up.weight": "up",
    "lora_A.weight": "down",
    "lora_B.weight": "up",
    "hada_w1_a": "hada_w1_a",
    "hada_w1_b": "hada_w1_b",
    "hada_w2_a": "hada_w2_a",
    "hada_w2_b": "hada_w2_b",
    "hada_t1": "hada_t1",
    "hada_t2": "hada_t2",
    "lokr_w1_a": "lokr_w1_a",
    "lokr_w1_b": "lokr_w1_b",
    "lokr_w2_a": "lokr_w2_a",
    "lokr_w2_b": "lokr_w2_b",
    "lokr_w1": "lokr_w1",
    "lokr_w2": "lokr_w2",
    "lokr_t2": "lokr_t2",
    "diff_b": "diff_b",
    "diff": "diff",
    "alpha": "alpha",
    "scale": "scale",
}
# older diffusers attention-processor LoRA: `...attn1.processor.to_q_lora.down.weight`
PROCESSOR_ROLES = {"down.weight": "down", "up.weight": "up"}
# key suffix -> the format it belongs to, for a clear refusal
REFUSED: dict[str, str] = {
    "dora_scale": "DoRA (weight-decomposed LoRA)",
    "lora_magnitude_vector": "DoRA (weight-decomposed LoRA, PEFT)",
    "on_input": "(IA)^3",
    "oft_blocks": "OFT",
    "oft_diag": "OFT",
    "oft_R": "BOFT",
    "w_norm": "LyCORIS norm layers",
    "b_norm": "LyCORIS norm layers",
    "a1.weight": "GLoRA",
    "a2.weight": "GLoRA",
    "b1.weight": "GLoRA",
    "b2.weight": "GLoRA",
    "lora_A.bias": "LoRA with biases (PEFT lora_bias)",
    "lora_B.bias": "LoRA with biases (PEFT lora_bias)",
}
KIND_NAMES = {"lora": "LoRA/LoCon", "loha": "LoHa", "lokr": "LoKr", "full": "full (diff)"}
PEFT_METADATA = "lora_adapter_metadata"


class LoraFormatError(ValueError):
    """A file that is not a LoRA this studio can apply; the message names the file and format."""


@dataclass
class ModuleWeights:
    key: str  # the module key as written in the file (`lora_unet_..._to_q`, `unet.....to_q`)
    kind: str  # lora | loha | lokr | full
    tensors: dict[str, Any]  # role -> tensor (roles of ROLES, without alpha/scale)
    alpha: float | None = None
    scale: float | None = None  # an explicit `scale` key, or PEFT's lora_alpha / r

    @property
    def rank(self) -> int | None:
        """The `dim` A1111 divides alpha by (None when the kind has none)."""
        for role in ("down", "hada_w1_b", "lokr_w1_b", "lokr_w2_b"):
            if role in self.tensors:
                return int(self.tensors[role].shape[0])
        return None


@dataclass
class LoraFile:
    path: Path
    modules: list[ModuleWeights]
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def kinds(self) -> list[str]:
        return sorted({module.kind for module in self.modules})

    @property
    def format_name(self) -> str:
        return " + ".join(KIND_NAMES[kind] for kind in self.kinds)


def load_state_dict(path: Path, allow_pickle: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The tensors and metadata of a `.safetensors` file, or of a pickle file (`.pt`, `.bin`,
    `.ckpt`) when `allow_pickle` (else LoraFormatError explaining the refusal)."""
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = dict(handle.metadata() or {})
                return {key: handle.get_tensor(key) for key in handle.keys()}, metadata  # noqa: SIM118
        except (SafetensorError, OSError, ValueError) as error:
            raise LoraFormatError(f"{path.name}: not a readable safetensors file ({error})") from None
    if not allow_pickle:
        raise LoraFormatError(
            f"{path.name}: refusing to load a pickle file ({path.suffix}): unpickling can run arbitrary "
            "code. Convert it to .safetensors, or start with --allow-pickle (allow_pickle) if you trust "
            "where it came from."
        )
    import torch

    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:
        data = torch.load(str(path), map_location="cpu", weights_only=False)
    if isinstance(data, Mapping) and "state_dict" in data and isinstance(data["state_dict"], Mapping):
        data = data["state_dict"]
    if not isinstance(data, Mapping):
        raise LoraFormatError(f"{path.name}: not a LoRA file (holds a {type(data).__name__}, not tensors)")
    return {str(k): v for k, v in data.items() if hasattr(v, "shape")}, {}


def read_lora_file(path: Path, allow_pickle: bool) -> LoraFile:
    """The file's modules with their kind; LoraFormatError naming the format when it cannot be
    applied."""
    path = Path(path)
    state, metadata = load_state_dict(path, allow_pickle)
    return LoraFile(path, parse_modules(path.name, state, metadata), metadata)


def check_keys(label: str, keys: Iterable[str]) -> dict[str, dict[str, str]]:
    """Group a LoRA's keys by module ({module key: {role: key}}); LoraFormatError naming the
    format when a key belongs to one that is not supported, or to no LoRA format at all. Needs
    only the key names (a safetensors header)."""
    grouped: dict[str, dict[str, str]] = {}
    refused: dict[str, str] = {}
    unknown: list[str] = []
    for key in keys:
        role, module_key = _split(key)
        if role is None:
            suffix = next((s for s in REFUSED if key.endswith("." + s)), None)
            if suffix is not None:
                refused.setdefault(REFUSED[suffix], key)
            else:
                unknown.append(key)
            continue
        grouped.setdefault(module_key, {})[role] = key
    if refused:
        names = ", ".join(f"{fmt} (key {key})" for fmt, key in refused.items())
        raise LoraFormatError(
            f"{label}: this network format is not supported: {names}. Supported: LoRA and LoCon "
            "(kohya/A1111, diffusers/PEFT), LyCORIS LoHa, LoKr and full (diff)."
        )
    if unknown and not grouped and all(key.endswith((".weight", ".bias")) for key in unknown):
        raise LoraFormatError(
            f"{label}: not a LoRA file: it holds plain weights ({', '.join(unknown[:3])}, ...); "
            "is it a checkpoint? Put checkpoints in models/Stable-diffusion."
        )
    if unknown:
        raise LoraFormatError(
            f"{label}: not a LoRA file this studio can read: unrecognised keys "
            f"{', '.join(unknown[:5])}{', ...' if len(unknown) > 5 else ''}"
        )
    if not grouped:
        raise LoraFormatError(f"{label}: not a LoRA file: it holds no tensors")
    for module_key, roles in grouped.items():
        _kind(label, module_key, set(roles) - {"alpha", "scale"})
    return grouped


def parse_modules(label: str, state: Mapping[str, Any], metadata: Mapping[str, str]) -> list[ModuleWeights]:
    """Group a LoRA state dict's keys by module and name each module's kind."""
    grouped = check_keys(label, state)
    peft_scales = _peft_alphas(metadata)
    modules = []
    for module_key, roles in grouped.items():
        tensors = {role: state[key] for role, key in roles.items()}
        alpha = tensors.pop("alpha", None)
        scale = tensors.pop("scale", None)
        module = ModuleWeights(
            module_key,
            _kind(label, module_key, set(tensors)),
            tensors,
            alpha=None if alpha is None else float(alpha.float().item()),
            scale=None if scale is None else float(scale.float().item()),
        )
        if (
            module.scale is None
            and module.alpha is None
            and peft_scales is not None
            and module.kind == "lora"
        ):
            module.scale = _peft_scale(peft_scales, module_key, module.rank)
        modules.append(module)
    return modules


def _split(key: str) -> tuple[str | None, str]:
    for suffix, role in ROLES.items():
        if key.endswith("." + suffix):
            return role, key[: -len(suffix) - 1]
    for suffix, role in PROCESSOR_ROLES.items():
        if key.endswith("_lora." + suffix):
            return role, key[: -len(suffix) - 1]
    return None, key


REQUIRED = {
    "lora": ({"down", "up"}, {"down", "up", "mid"}),
    "loha": ({"hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"}, None),
    "full": ({"diff"}, {"diff", "diff_b"}),
}


def _kind(label: str, module_key: str, roles: set[str]) -> str:
    if roles & {"down", "up", "mid"}:
        kind = "lora"
    elif any(role.startswith("hada_") for role in roles):
        kind = "loha"
    elif any(role.startswith("lokr_") for role in roles):
        kind = "lokr"
    elif "diff" in roles or "diff_b" in roles:
        kind = "full"
    else:
        raise LoraFormatError(f"{label}: module {module_key} has only {sorted(roles)}; no weights to apply")
    if kind == "lokr":
        has_w1 = "lokr_w1" in roles or {"lokr_w1_a", "lokr_w1_b"} <= roles
        has_w2 = "lokr_w2" in roles or {"lokr_w2_a", "lokr_w2_b"} <= roles
        if not (has_w1 and has_w2):
            raise LoraFormatError(f"{label}: LoKr module {module_key} is incomplete (has {sorted(roles)})")
        return kind
    required, allowed = REQUIRED[kind]
    allowed = allowed or required | {"hada_t1", "hada_t2"}
    if not required <= roles or not roles <= allowed:
        raise LoraFormatError(
            f"{label}: {KIND_NAMES[kind]} module {module_key} is incomplete or mixed (has {sorted(roles)})"
        )
    return kind


def _peft_alphas(metadata: Mapping[str, str]) -> dict[str, Any] | None:
    """diffusers' saved adapter config (`lora_adapter_metadata`: `unet.r`, `unet.lora_alpha`,
    `unet.alpha_pattern`, ...), or None when the file has none (then PEFT keys use scale 1)."""
    raw = metadata.get(PEFT_METADATA)
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except ValueError:
        return None
    return config if isinstance(config, dict) else None


def _peft_scale(config: Mapping[str, Any], module_key: str, rank: int | None) -> float | None:
    component, _, module = module_key.partition(".")
    alpha = config.get(f"{component}.lora_alpha")
    if alpha is None or not rank:
        return None
    for pattern, value in (config.get(f"{component}.alpha_pattern") or {}).items():
        if module == pattern or module.endswith("." + pattern):
            alpha = value
    return float(alpha) / rank
