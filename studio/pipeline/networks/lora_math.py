"""The weight change of one LoRA / LyCORIS module, computed A1111's way.

`delta(module, weight, dyn)` is the full-size change to add to a Linear or Conv2d weight (before
the user's multiplier): `up @ down` for LoRA and LoCon (Tucker `mid` included), the Hadamard
product of two low-rank products for LoHa, a Kronecker product for LoKr, the stored `diff` for
full networks; times `alpha / rank` (or the file's `scale`) as A1111's `calc_scale` does.

`LowRankPath` is the unfused alternative for LoRA/LoCon: it runs `x -> down -> (mid) -> up` beside
the frozen layer instead of changing its weight.
"""

from __future__ import annotations

from typing import Any

from studio.pipeline.networks.lora_format import ModuleWeights


class ShapeError(ValueError):
    """The network's weights do not fit the layer (a LoRA made for another architecture)."""


def scale_of(module: ModuleWeights) -> float:
    """A1111's calc_scale: the explicit scale, else alpha / rank, else 1."""
    if module.scale is not None:
        return module.scale
    rank = module.rank
    if module.alpha is not None and rank:
        return module.alpha / rank
    return 1.0


def delta(module: ModuleWeights, weight: Any, dyn: int | None = None) -> Any:
    """The scaled change to `weight` (float32, weight's shape); ShapeError when it does not fit."""
    import torch

    t = {
        role: tensor.to(device=weight.device, dtype=torch.float32) for role, tensor in module.tensors.items()
    }
    if module.kind == "lora":
        change = _lora(t, dyn)
    elif module.kind == "loha":
        change = _hadamard(t)
    elif module.kind == "lokr":
        change = _kronecker(t, weight)
    else:
        change = t["diff"]
    if change.numel() != weight.numel():
        raise ShapeError(
            f"{module.key}: the network's weights have shape {tuple(change.shape)}, the layer "
            f"{tuple(weight.shape)}"
        )
    return change.reshape(weight.shape) * scale_of(module)


def add_change(work: Any, module: ModuleWeights, factor: float, dyn: int | None = None) -> None:
    """`work += factor * delta(module)`, in place on a float32 weight. A plain LoRA / LoCon
    change is one `addmm_` (scale folded into the small `up` matrix): no full-size temporary."""
    import torch

    t = module.tensors
    if module.kind != "lora" or "mid" in t:
        work.add_(delta(module, work, dyn), alpha=factor)
        return
    up = t["up"].to(device=work.device, dtype=torch.float32)
    down = t["down"].to(device=work.device, dtype=torch.float32)
    if dyn is not None:
        up, down = up[:, :dyn], down[:dyn]
    up = up.reshape(up.size(0), -1)
    down = down.reshape(down.size(0), -1)
    rows = work.view(work.shape[0], -1)
    if up.shape[0] != rows.shape[0] or down.shape[1] != rows.shape[1] or up.shape[1] != down.shape[0]:
        raise ShapeError(
            f"{module.key}: the network's weights (out {up.shape[0]}, in {down.shape[1]}) do not fit the "
            f"layer's shape {tuple(work.shape)}"
        )
    rows.addmm_(up * (scale_of(module) * factor), down)


def bias_delta(module: ModuleWeights, bias: Any) -> Any | None:
    """The change to the layer's bias (full networks' `diff_b`), or None."""
    import torch

    if module.kind != "full" or "diff_b" not in module.tensors:
        return None
    change = module.tensors["diff_b"].to(device=bias.device, dtype=torch.float32)
    if bias is None or change.numel() != bias.numel():
        raise ShapeError(f"{module.key}: diff_b does not fit the layer's bias")
    return change.reshape(bias.shape)


def _lora(t: dict[str, Any], dyn: int | None) -> Any:
    import torch

    up, down = t["up"], t["down"]
    if dyn is not None:
        up, down = up[:, :dyn], down[:dyn]
    if "mid" in t:
        mid = t["mid"]
        if dyn is not None:
            mid = mid[:dyn, :dyn]
        up2 = up.reshape(up.size(0), -1)
        down2 = down.reshape(down.size(0), -1)
        return torch.einsum("n m k l, i n, m j -> i j k l", mid, up2, down2)
    shape = [up.size(0), down.size(1), *down.shape[2:]]
    return (up.reshape(up.size(0), -1) @ down.reshape(down.size(0), -1)).reshape(shape)


def _cp(t: Any, wa: Any, wb: Any) -> Any:
    """LyCORIS' Tucker (CP) rebuild: t (r, r, k, k) with wa (r, out) and wb (r, in)."""
    import torch

    temp = torch.einsum("i j k l, j r -> i r k l", t, wb)
    return torch.einsum("i j k l, i r -> r j k l", temp, wa)


def _hadamard(t: dict[str, Any]) -> Any:
    def half(n: int) -> Any:
        a, b = t[f"hada_w{n}_a"], t[f"hada_w{n}_b"]
        tucker = t.get(f"hada_t{n}")
        if tucker is not None:
            return _cp(tucker, a, b)
        shape = [a.size(0), b.size(1), *b.shape[2:]]
        return (a.reshape(a.size(0), -1) @ b.reshape(b.size(0), -1)).reshape(shape)

    return half(1) * half(2)


def _kronecker(t: dict[str, Any], weight: Any) -> Any:
    import torch

    w1 = t["lokr_w1"] if "lokr_w1" in t else t["lokr_w1_a"] @ t["lokr_w1_b"]
    if "lokr_w2" in t:
        w2 = t["lokr_w2"]
    elif "lokr_t2" in t:
        w2 = _cp(t["lokr_t2"], t["lokr_w2_a"], t["lokr_w2_b"])
    else:
        w2 = t["lokr_w2_a"] @ t["lokr_w2_b"]
    if w2.dim() == 4:
        w1 = w1.unsqueeze(2).unsqueeze(2)
    return torch.kron(w1, w2.contiguous())


class LowRankPath:
    """`x -> down -> (mid) -> up`, times the scale: a LoRA's output beside a frozen Linear or
    Conv2d layer, without touching its weight."""

    def __init__(self, module: ModuleWeights, layer: Any, multiplier: float, dyn: int | None) -> None:
        import torch

        device, dtype = layer.weight.device, layer.weight.dtype
        tensors = {role: tensor.to(device=device, dtype=dtype) for role, tensor in module.tensors.items()}
        up, down = tensors["up"], tensors["down"]
        if dyn is not None:
            up, down = up[:, :dyn], down[:dyn]
        self.mid = tensors.get("mid")
        if self.mid is not None and dyn is not None:
            self.mid = self.mid[:dyn, :dyn]
        self.conv = isinstance(layer, torch.nn.Conv2d)
        if self.conv:
            if down.dim() == 2:  # a Linear-shaped LoRA on a 1x1 convolution
                down = down[:, :, None, None]
            if up.dim() == 2:
                up = up[:, :, None, None]
            self.stride, self.padding, self.dilation = layer.stride, layer.padding, layer.dilation
        else:
            down, up = down.reshape(down.size(0), -1), up.reshape(up.size(0), -1)
        if up.shape[0] != layer.weight.shape[0] or down.shape[1] != layer.weight.shape[1]:
            raise ShapeError(
                f"{module.key}: the network's weights (out {up.shape[0]}, in {down.shape[1]}) do not fit "
                f"the layer (out {layer.weight.shape[0]}, in {layer.weight.shape[1]})"
            )
        self.down, self.up = down, up
        self.factor = scale_of(module) * multiplier

    def __call__(self, x: Any) -> Any:
        import torch.nn.functional as F

        if not self.conv:
            return F.linear(F.linear(x, self.down), self.up) * self.factor
        if self.mid is not None:
            h = F.conv2d(x, self.down)
            h = F.conv2d(h, self.mid, stride=self.stride, padding=self.padding, dilation=self.dilation)
        else:
            h = F.conv2d(x, self.down, stride=self.stride, padding=self.padding, dilation=self.dilation)
        return F.conv2d(h, self.up) * self.factor


class DeltaPath:
    """The unfused form of a network without a low-rank path (LoHa, LoKr, full): the layer's
    operation with the change as its weight, beside the frozen layer."""

    def __init__(self, change: Any, layer: Any, bias_change: Any = None) -> None:
        import torch

        self.change = change.to(dtype=layer.weight.dtype)
        self.bias = None if bias_change is None else bias_change.to(dtype=layer.weight.dtype)
        self.conv = isinstance(layer, torch.nn.Conv2d)
        if self.conv:
            self.stride, self.padding, self.dilation = layer.stride, layer.padding, layer.dilation
            self.groups = layer.groups

    def __call__(self, x: Any) -> Any:
        import torch.nn.functional as F

        if not self.conv:
            return F.linear(x, self.change, self.bias)
        return F.conv2d(
            x,
            self.change,
            self.bias,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
        )
