"""Weight quantization of a loaded model's components: the denoiser (UNet or transformer) and
the text encoders, each on its own (`quantize_unet`, `quantize_text_encoder` settings).

Modes (`studio.config.QUANTIZE_MODES`):
- `int8`, `int4`: optimum-quanto weight-only qint8 / qint4 (weights stored quantized, computed
  in the model's dtype);
- `torchao-int8`: torchao's int8 weight-only;
- `sdnq-int8`, `sdnq-int4`: SDNQ (SD.Next's quantization engine) weight-only int8 / int4 of the
  Linear layers, dequantized per call into the model's dtype;
- `bnb-nf4`, `bnb-int8`: bitsandbytes' NF4 (`Linear4bit`) and LLM.int8 (`Linear8bitLt`) layers in
  place of every Linear layer, quantized as they move to the model's device (CPU or CUDA).
Weights are quantized in place after the model loads; a change of mode reloads the model. LoRAs
cannot be fused into quantized weights: a request with a LoRA on a quantized model is refused by
field (`refusal`). What each mode saves and costs is in docs/performance.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from studio.config import QUANTIZE_MODES

DENOISERS = ("unet", "transformer")
TEXT_ENCODERS = ("text_encoder", "text_encoder_2", "text_encoder_3")
# mode -> (the module it imports, the pip distribution `atelier[quantize]` installs it with)
PACKAGES = {
    "int8": ("optimum.quanto", "optimum-quanto"),
    "int4": ("optimum.quanto", "optimum-quanto"),
    "torchao-int8": ("torchao.quantization", "torchao"),
    "sdnq-int8": ("sdnq", "sdnq"),
    "sdnq-int4": ("sdnq", "sdnq"),
    "bnb-nf4": ("bitsandbytes", "bitsandbytes"),
    "bnb-int8": ("bitsandbytes", "bitsandbytes"),
}
# LLM.int8's outlier threshold (bitsandbytes' and diffusers' BitsAndBytesConfig default)
BNB_INT8_THRESHOLD = 6.0


@dataclass(frozen=True)
class Quantization:
    """What a loaded model's components were quantized to ("none" for neither)."""

    unet: str = "none"
    text_encoder: str = "none"

    @property
    def any(self) -> bool:
        return self != Quantization()


class QuantizationUnavailable(RuntimeError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def wanted(config: Any) -> Quantization:
    return Quantization(config.quantize_unet, config.quantize_text_encoder)


def _modules(pipe: Any, names: tuple[str, ...]) -> Iterator[Any]:
    for name in names:
        module = getattr(pipe, name, None)
        if module is not None:
            yield module


def quantize_module(module: Any, mode: str) -> None:
    """Quantize `module`'s weights in place (`mode` one of QUANTIZE_MODES other than none)."""
    if mode not in QUANTIZE_MODES or mode == "none":
        raise ValueError(f"unknown quantization {mode!r}; known: {', '.join(QUANTIZE_MODES)}")
    if mode in ("int8", "int4"):
        from optimum.quanto import freeze, qint4, qint8, quantize

        quantize(module, weights=qint8 if mode == "int8" else qint4)
        freeze(module)
    elif mode.startswith("sdnq-"):
        from sdnq import sdnq_post_load_quant

        dtype = next(module.parameters()).dtype
        quantized = sdnq_post_load_quant(module, weights_dtype=mode.removeprefix("sdnq-"), torch_dtype=dtype)
        if quantized is not module:  # the layers are replaced inside `module`, which stays the model
            raise RuntimeError("sdnq returned a new module instead of quantizing in place")
    elif mode.startswith("bnb-"):
        _replace_linears(module, mode)
    else:
        from torchao.quantization import Int8WeightOnlyConfig, quantize_

        quantize_(module, Int8WeightOnlyConfig())


def _replace_linears(module: Any, mode: str) -> None:
    """Every nn.Linear inside `module` replaced by its bitsandbytes layer (`mode` bnb-nf4 or bnb-int8)."""
    import torch

    for name, child in list(module.named_children()):
        if isinstance(child, torch.nn.Linear):
            setattr(module, name, _bnb_linear(child, mode))
        else:
            _replace_linears(child, mode)


def _bnb_linear(layer: Any, mode: str) -> Any:
    import bitsandbytes as bnb
    import torch

    weight = layer.weight.data
    has_bias = layer.bias is not None
    if mode == "bnb-nf4":
        new = bnb.nn.Linear4bit(
            layer.in_features, layer.out_features, bias=has_bias, compute_dtype=weight.dtype, quant_type="nf4"
        )
        new.weight = bnb.nn.Params4bit(weight.cpu(), requires_grad=False, quant_type="nf4")
    else:
        new = bnb.nn.Linear8bitLt(
            layer.in_features,
            layer.out_features,
            bias=has_bias,
            has_fp16_weights=False,
            threshold=BNB_INT8_THRESHOLD,
        )
        new.weight = bnb.nn.Int8Params(weight.cpu(), requires_grad=False, has_fp16_weights=False)
    if has_bias:
        new.bias = torch.nn.Parameter(layer.bias.data.cpu(), requires_grad=False)
    return new.to(weight.device)  # bitsandbytes quantizes the weights as they move to the device


def check_installed(quantization: Quantization) -> None:
    """QuantizationUnavailable naming the setting whose library is missing."""
    for field_name, mode in (
        ("quantize_unet", quantization.unet),
        ("quantize_text_encoder", quantization.text_encoder),
    ):
        if mode == "none":
            continue
        package, distribution = PACKAGES[mode]
        try:
            __import__(package)
        except ImportError as error:
            raise QuantizationUnavailable(
                field_name,
                f"{mode} needs {package} ({error}); pip install 'atelier[quantize]' ({distribution})",
            ) from None


def quantize_pipeline(pipe: Any, quantization: Quantization) -> None:
    """Quantize the denoiser and text encoders of `pipe` as `quantization` says."""
    check_installed(quantization)
    if quantization.unet != "none":
        for module in _modules(pipe, DENOISERS):
            quantize_module(module, quantization.unet)
    if quantization.text_encoder != "none":
        for module in _modules(pipe, TEXT_ENCODERS):
            quantize_module(module, quantization.text_encoder)


def weight_bytes(module: Any) -> int:
    """Bytes the module's weights take as stored (quantized tensors count their packed data)."""
    total = 0
    for tensor in module.state_dict().values():
        total += _tensor_bytes(tensor)
    return total


def _tensor_bytes(tensor: Any) -> int:
    inner = getattr(tensor, "__tensor_flatten__", None)
    if inner is not None:
        names, _ = inner()
        return sum(_tensor_bytes(getattr(tensor, name)) for name in names)
    return int(tensor.numel() * tensor.element_size())


def refusal(quantization: Quantization, has_loras: bool) -> tuple[str, str] | None:
    """(field, why) when the request's LoRAs cannot be put on the quantized model."""
    if has_loras and quantization.any:
        setting = "quantize_unet" if quantization.unet != "none" else "quantize_text_encoder"
        return (
            "prompt",
            f"LoRAs cannot be fused into quantized weights ({setting} is "
            f"{getattr(quantization, setting.removeprefix('quantize_'))}); set it to none to use LoRAs",
        )
    return None
