"""Measuring what a model costs, for the estimates of `studio.memory.estimate`.

- `profile_model`: builds the denoiser and the VAE from their configs on torch's meta device
  (no weights, no memory, no computing: shapes only) and replays one denoiser call, one VAE
  decode and one VAE encode at a small reference size. A flop counter sums the convolutions and
  matrix products; attention calls are answered with an empty tensor of the right shape and
  counted apart (self-attention grows with the square of the pixel count); a dispatch mode
  follows every tensor's storage to find the peak of live activations.
- `measure_speed`: a short calibration on the device itself (one 3x3 convolution, one
  attention call with the model's head size), ~0.3 s on a CPU.
- `CostEstimator`: what the engine holds: model costs by model and memory options, speeds by
  device, and the ratio measured / predicted learned from the batches that really ran, kept in
  the studio database (`studio_state`) per device and model.

Replays know `UNet2DConditionModel` denoisers (SD 1.x, 2.x, SDXL), SD 3.5's and Flux.1's
transformers (`studio.pipeline.families.transformer_cost`) and `AutoencoderKL` VAEs;
for another architecture `profile_model` raises `UnsupportedModel`, and the check says that
there is no estimate.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from studio.devices.base import DeviceChoice
from studio.memory.estimate import (
    CostEstimate,
    CostPolicy,
    CostVerdict,
    DeviceSpeed,
    JobShape,
    ModelCost,
    PassCost,
    estimate_job,
    judge,
    learn_ratio,
    predicted_batch_seconds,
)
from studio.pipeline.model_registry import ModelEntry, ModelRegistry

log = logging.getLogger(__name__)

REFERENCE_LATENT = 32  # latent pixels along a side for the replays
TEXT_TOKENS = 77
RATIO_KEY = "cost_ratio:{device}:{model}"


class UnsupportedModel(ValueError):
    """The estimator cannot replay this model's architecture."""


# ---- reading a model's configs and weight sizes -------------------------------------------------


def _config_folder(entry: ModelEntry) -> Path:
    if entry.format == "diffusers":
        return entry.path
    from studio.pipeline.loader import config_folder_for

    return config_folder_for(entry.path)


def component_configs(entry: ModelEntry) -> dict[str, tuple[str, dict[str, Any]]]:
    """Component name -> (diffusers class name, config) for the denoiser (`unet`) and the `vae`."""
    folder = _config_folder(entry)
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for name in ("unet", "transformer", "vae"):
        spec = index.get(name)
        config_file = folder / name / "config.json"
        if isinstance(spec, list) and len(spec) == 2 and config_file.exists():
            found[name] = (str(spec[1]), json.loads(config_file.read_text(encoding="utf-8")))
    return found


_SAFETENSORS_ITEMS = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1}


def _safetensors_parameters(path: Path) -> int:
    """Floating-point parameters in a .safetensors file, from its header (no tensor is read)."""
    with path.open("rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(size))
    return sum(
        math.prod(info["shape"])
        for name, info in header.items()
        if name != "__metadata__" and info.get("dtype") in _SAFETENSORS_ITEMS
    )


def _is_variant_beside_plain(path: Path) -> bool:
    parts = path.name.split(".")
    if len(parts) < 3:
        return False
    plain = path.with_name(".".join([parts[0], parts[-1]]))
    return plain != path and plain.exists()


def weights_bytes(entry: ModelEntry, itemsize: int) -> int:
    """The model's weights in memory at `itemsize` bytes a parameter (pickle files: their size)."""
    files = [entry.path] if entry.path.is_file() else sorted(entry.path.rglob("*"))
    total = 0
    for path in files:
        if _is_variant_beside_plain(path):
            continue  # diffusion_pytorch_model.fp16.safetensors beside the plain file: one set
        if path.suffix == ".safetensors":
            total += _safetensors_parameters(path) * itemsize
        elif path.suffix in (".bin", ".ckpt", ".pt", ".pth"):
            total += path.stat().st_size
    return total


# ---- the replays ---------------------------------------------------------------------------------


class _Replay:
    """Counts a replay on the meta device: dense flops, self- and cross-attention flops, the
    peak of live activation bytes, and the head size of the biggest self-attention."""

    def __init__(self) -> None:
        self.self_attention = 0.0
        self.cross_attention = 0.0
        self.head_dim = 0
        self._biggest = 0.0
        self.peak = 0
        self.dense = 0.0

    def run(self, call: Any) -> None:
        import torch
        import torch.nn.functional as F
        from torch.overrides import TorchFunctionMode
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_leaves
        from torch.utils.flop_counter import FlopCounterMode

        replay = self
        sdpa = F.scaled_dot_product_attention

        class Attention(TorchFunctionMode):
            def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
                kwargs = kwargs or {}
                if func is not sdpa:
                    return func(*args, **kwargs)
                query, key, value = (
                    kwargs.get(name, args[i] if len(args) > i else None)
                    for i, name in enumerate(("query", "key", "value"))
                )
                flops = 2.0 * query.shape[:-1].numel() * key.shape[-2] * (query.shape[-1] + value.shape[-1])
                if key.shape[-2] == query.shape[-2]:
                    replay.self_attention += flops
                    if flops > replay._biggest:
                        replay._biggest, replay.head_dim = flops, int(query.shape[-1])
                else:
                    replay.cross_attention += flops
                return torch.empty(
                    (*query.shape[:-1], value.shape[-1]), dtype=query.dtype, device=query.device
                )

        class LiveBytes(TorchDispatchMode):
            def __init__(self) -> None:
                super().__init__()
                self.refs: dict[int, int] = {}
                self.sizes: dict[int, int] = {}
                self.current = 0

            def _drop(self, key: int) -> None:
                self.refs[key] -= 1
                if self.refs[key] == 0:
                    del self.refs[key]
                    self.current -= self.sizes.pop(key)

            def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
                out = func(*args, **(kwargs or {}))
                if any(result.alias_info is not None for result in func._schema.returns):
                    return out  # a view or an in-place op: no new storage (a slice of a buffer is not an activation)
                for tensor in tree_leaves(out):
                    if isinstance(tensor, torch.Tensor):
                        storage = tensor.untyped_storage()
                        key = storage._cdata
                        if key not in self.refs:
                            self.refs[key] = 0
                            self.sizes[key] = storage.nbytes()
                            self.current += self.sizes[key]
                            replay.peak = max(replay.peak, self.current)
                        self.refs[key] += 1
                        weakref.finalize(tensor, self._drop, key)
                return out

        counter = FlopCounterMode(display=False)
        with torch.no_grad(), Attention(), counter, LiveBytes():
            call()
        self.dense = float(counter.get_total_flops())

    def cost(self, pixels: int) -> PassCost:
        return PassCost(
            linear_flops=(self.dense + self.cross_attention) / pixels,
            attention_flops=self.self_attention / pixels**2,
            bytes_per_pixel=self.peak / pixels,
        )


def _build(class_name: str, config: Mapping[str, Any]) -> Any:
    import diffusers
    import torch

    cls = getattr(diffusers, class_name, None)
    if cls is None:
        raise UnsupportedModel(f"no diffusers class {class_name!r}")
    with torch.device("meta"):
        return cls.from_config(dict(config))


def _unet_call(unet: Any, latent: int) -> Any:
    import torch

    config = unet.config
    if type(unet).__name__ != "UNet2DConditionModel":  # SD 3.5 and Flux.1: their own replay
        from studio.pipeline.families.transformer_cost import transformer_call

        return transformer_call(unet, latent)
    cross = config.cross_attention_dim
    cross = cross[0] if isinstance(cross, list | tuple) else cross
    meta = torch.device("meta")

    def call() -> None:
        sample = torch.empty(1, config.in_channels, latent, latent, device=meta)
        hidden = torch.empty(1, TEXT_TOKENS, cross, device=meta)
        extra: dict[str, Any] = {}
        if config.addition_embed_type == "text_time":
            text = config.projection_class_embeddings_input_dim - 6 * config.addition_time_embed_dim
            extra["added_cond_kwargs"] = {
                "text_embeds": torch.empty(1, text, device=meta),
                "time_ids": torch.empty(1, 6, device=meta),
            }
        unet(sample, torch.tensor(10, device=meta), hidden, **extra)

    return call


def profile_model(
    denoiser: tuple[str, Mapping[str, Any]],
    vae: tuple[str, Mapping[str, Any]],
    *,
    weights: int,
    memory: Mapping[str, Any] | None = None,
) -> ModelCost:
    """The cost of a model from its denoiser's and VAE's (class name, config); `memory` is the
    studio's memory options (attention_slicing, vae_slicing and vae_tiling change the cost)."""
    import torch

    memory = memory or {}
    unet = _build(*denoiser)
    autoencoder = _build(*vae)
    if type(autoencoder).__name__ != "AutoencoderKL":
        raise UnsupportedModel(
            f"the cost estimate knows AutoencoderKL VAEs, not {type(autoencoder).__name__}"
        )
    if "attention_slicing" in memory and hasattr(unet, "set_attention_slice"):  # not transformers
        options = memory["attention_slicing"]
        slice_size = options.get("slice_size", "auto") if isinstance(options, Mapping) else "auto"
        unet.set_attention_slice(slice_size)
    factor = 2 ** (len(autoencoder.config.block_out_channels) - 1)
    latent = REFERENCE_LATENT
    pixels = latent * latent
    meta = torch.device("meta")
    replays = {name: _Replay() for name in ("denoiser", "decoder", "encoder")}
    replays["denoiser"].run(_unet_call(unet, latent))
    replays["decoder"].run(
        lambda: autoencoder.decode(
            torch.empty(1, autoencoder.config.latent_channels, latent, latent, device=meta)
        )
    )
    replays["encoder"].run(
        lambda: autoencoder.encode(
            torch.empty(1, autoencoder.config.in_channels, latent * factor, latent * factor, device=meta)
        )
    )
    tile = None
    if "vae_tiling" in memory:
        tile = int(autoencoder.tile_latent_min_size) ** 2
    return ModelCost(
        denoiser=replays["denoiser"].cost(pixels),
        decoder=replays["decoder"].cost(pixels),
        encoder=replays["encoder"].cost(pixels),
        latent_factor=factor,
        weights_bytes=weights,
        head_dim=replays["denoiser"].head_dim or 64,
        decode_one_at_a_time="vae_slicing" in memory,
        decode_tile_pixels=tile,
    )


# ---- the device ----------------------------------------------------------------------------------


def _best_seconds(run: Any, device: DeviceChoice, repeats: int) -> float:
    import torch

    best = math.inf
    for _ in range(repeats):
        if device.name == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        run()
        if device.name == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return max(best, 1e-6)


def measure_speed(device: DeviceChoice, head_dim: int) -> DeviceSpeed:
    """Dense and attention operations per second on `device`, from one 3x3 convolution and one
    self-attention call with `head_dim`-wide heads (best of a few runs)."""
    import torch
    import torch.nn.functional as F

    options = {"device": device.device, "dtype": device.dtype}
    with torch.no_grad():
        image = torch.randn(1, 64, 64, 64, **options)
        kernel = torch.randn(64, 64, 3, 3, **options)
        conv = _best_seconds(lambda: F.conv2d(image, kernel, padding=1), device, 3)
        tokens = torch.randn(1, 8, 2048, head_dim, **options)
        attention = _best_seconds(lambda: F.scaled_dot_product_attention(tokens, tokens, tokens), device, 2)
    return DeviceSpeed(
        dense_flops_per_second=2.0 * 64 * 64 * 9 * 64 * 64 / conv,
        attention_flops_per_second=2.0 * 8 * 2048 * 2048 * 2 * head_dim / attention,
    )


def free_memory(device: DeviceChoice) -> int | None:
    """Bytes free on the device now: the GPU's for CUDA / ROCm, else the system's available RAM."""
    if device.name in ("cuda", "rocm"):
        import torch

        free, _total = torch.cuda.mem_get_info(device.device)
        return int(free)
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


# ---- the engine's estimator ----------------------------------------------------------------------


class CostEstimator:
    """Estimates for one engine: caches model costs and device speeds, learns the ratio."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry
        self._lock = threading.Lock()
        self._costs: dict[tuple[str, str, int], ModelCost] = {}
        self._speeds: dict[tuple[str, str, int], DeviceSpeed] = {}

    def model_cost(self, entry: ModelEntry, device: DeviceChoice, memory: Mapping[str, Any]) -> ModelCost:
        itemsize = _itemsize(device)
        key = (str(entry.path), json.dumps(dict(memory), sort_keys=True, default=str), itemsize)
        with self._lock:
            if key not in self._costs:
                configs = component_configs(entry)
                denoiser = configs.get("unet") or configs.get("transformer")
                if denoiser is None or "vae" not in configs:
                    raise UnsupportedModel(f"{entry.name}: no denoiser or VAE config found")
                self._costs[key] = profile_model(
                    denoiser, configs["vae"], weights=weights_bytes(entry, itemsize), memory=memory
                )
            return self._costs[key]

    def speed(self, entry: ModelEntry, device: DeviceChoice, head_dim: int) -> DeviceSpeed:
        key = (device.name, str(device.dtype), head_dim)
        with self._lock:
            if key not in self._speeds:
                self._speeds[key] = measure_speed(device, head_dim)
            measured = self._speeds[key]
        stored = self.registry.get_state(RATIO_KEY.format(device=device.name, model=entry.path))
        if stored:
            learned = json.loads(stored)
            return DeviceSpeed(
                measured.dense_flops_per_second,
                measured.attention_flops_per_second,
                float(learned["ratio"]),
                int(learned["batches"]),
            )
        return measured

    def estimate(
        self,
        shape: JobShape,
        entry: ModelEntry,
        device: DeviceChoice,
        memory: Mapping[str, Any],
        *,
        loaded: bool,
    ) -> CostEstimate:
        cost = self.model_cost(entry, device, memory)
        return estimate_job(
            cost,
            shape,
            self.speed(entry, device, cost.head_dim),
            device=device.name,
            weights_loaded=loaded,
            available_bytes=free_memory(device),
        )

    def verdict(
        self,
        shape: JobShape,
        entry: ModelEntry,
        device: DeviceChoice,
        policy: CostPolicy,
        memory: Mapping[str, Any],
        *,
        loaded: bool,
    ) -> CostVerdict:
        """The policy's verdict on a job (CostRefused when it refuses). A model the estimator
        cannot replay gets no estimate and a note saying so, never a refusal."""
        if policy.mode == "off":
            return CostVerdict("off")
        try:
            estimate = self.estimate(shape, entry, device, memory, loaded=loaded)
        except Exception as error:  # an estimate never stops a generation by failing
            log.warning(
                "no cost estimate for %s: %s",
                entry.name,
                error,
                exc_info=not isinstance(error, UnsupportedModel),
            )
            return judge(None, shape, policy, note=f"no cost estimate for {entry.name}: {error}")
        return judge(estimate, shape, policy)

    def learn(
        self,
        shape: JobShape,
        entry: ModelEntry,
        device: DeviceChoice,
        memory: Mapping[str, Any],
        seconds: float,
    ) -> DeviceSpeed:
        """Move the model's ratio on this device toward what one finished batch took."""
        cost = self.model_cost(entry, device, memory)
        speed = self.speed(entry, device, cost.head_dim)
        learned = learn_ratio(speed, seconds, predicted_batch_seconds(cost, shape, speed))
        self.registry.set_state(
            RATIO_KEY.format(device=device.name, model=entry.path),
            json.dumps({"ratio": learned.ratio, "batches": learned.batches_measured}),
        )
        return learned


def _itemsize(device: DeviceChoice) -> int:
    itemsize = getattr(device.dtype, "itemsize", None)
    return int(itemsize) if itemsize else 4
