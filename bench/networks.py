"""LoRAs on a full-size SD 1.5 UNet and text encoder: apply and remove times, exact restore, and
the step time with fused, unfused (forward hooks) and no LoRAs.

    python bench/networks.py            512x512, 2 UNet steps per case
    python bench/networks.py --quick    256x256, 1 step per case

The UNet and CLIP text encoder are built from the shipped SD 1.x configs
(`studio/pipeline/configs/sd15`) with random weights (same compute and memory as the real
model). Three kohya LoRAs over every attention layer (UNet attn1/attn2 q, k, v, out and the
text encoder's q, k, v, out) are written as `.safetensors` (ranks 32, 16, 32) and read the way
the studio reads them. Measured in one run, with `studio.pipeline.networks.patcher`:
  - read, apply (fused) and remove one LoRA; apply three; switch from three to one; remove;
    apply three unfused (hooks) and remove;
  - whether the UNet and text-encoder tensors are bit-identical to the base after removal
    (a BLAKE2 digest over every tensor, before and after);
  - one UNet step with CFG (batch 2) at the size given, with no LoRA, three fused, three unfused.
Run it on a quiet machine and note the load average: on a shared 2-core CPU one step takes
~10-20 s and the timings swing with the load.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "studio" / "pipeline" / "configs" / "sd15"


def build_models() -> tuple:
    import torch
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    unet_config = json.loads((CONFIGS / "unet" / "config.json").read_text(encoding="utf-8"))
    unet = UNet2DConditionModel.from_config(unet_config).eval()
    text_config = CLIPTextConfig.from_pretrained(CONFIGS / "text_encoder")
    text_encoder = CLIPTextModel(text_config).eval()
    return unet, text_encoder


def attention_layers(unet, text_encoder) -> dict[str, tuple[int, int]]:
    """kohya key -> (out, in) for every attention projection."""
    import torch

    layers = {}
    for prefix, model, extra in (("lora_unet_", unet, ""), ("lora_te_", text_encoder, "text_model_")):
        for name, layer in model.named_modules():
            if not isinstance(layer, torch.nn.Linear):
                continue
            if name.endswith(("to_q", "to_k", "to_v", "to_out.0", "q_proj", "k_proj", "v_proj", "out_proj")):
                layers[prefix + extra + name.replace(".", "_")] = tuple(layer.weight.shape)
    return layers


def write_lora(path: Path, layers: dict[str, tuple[int, int]], rank: int, seed: int) -> Path:
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, (out_features, in_features) in layers.items():
        state[f"{key}.lora_down.weight"] = torch.randn(rank, in_features, generator=generator) * 0.01
        state[f"{key}.lora_up.weight"] = torch.randn(out_features, rank, generator=generator) * 0.01
        state[f"{key}.alpha"] = torch.tensor(float(rank))
    save_file(state, str(path))
    return path


def digest(*models) -> str:
    h = hashlib.blake2b(digest_size=16)
    for model in models:
        for name, tensor in model.state_dict().items():
            h.update(name.encode())
            h.update(memoryview(tensor.detach().contiguous().numpy()).cast("B"))
    return h.hexdigest()


def timed(label: str, action, results: dict[str, float]):
    tick = time.perf_counter()
    value = action()
    results[label] = time.perf_counter() - tick
    print(f"  {label:<44} {results[label]:7.2f} s", flush=True)
    return value


def step_time(unet, text_encoder, size: int, steps: int) -> float:
    import torch

    generator = torch.Generator().manual_seed(1)
    latents = torch.randn(2, 4, size // 8, size // 8, generator=generator)
    ids = torch.randint(0, 49000, (2, 77), generator=generator)
    best = float("inf")
    with torch.no_grad():
        for _ in range(steps):
            tick = time.perf_counter()
            context = text_encoder(ids).last_hidden_state
            unet(latents, 500, encoder_hidden_states=context)
            best = min(best, time.perf_counter() - tick)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="256x256 and 1 step per case")
    args = parser.parse_args()
    size, steps = (256, 1) if args.quick else (512, 2)
    sys.path.insert(0, str(ROOT))
    import torch

    from studio.pipeline.networks.lora_format import read_lora_file
    from studio.pipeline.networks.patcher import NetworkPatcher, NetworkUse

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; {size}x{size}, {steps} step(s) per case"
    )
    results: dict[str, float] = {}
    unet, text_encoder = timed("build SD 1.5 UNet + text encoder (random)", build_models, results)
    components = {"unet": unet, "text_encoder": text_encoder}
    layers = attention_layers(unet, text_encoder)
    print(f"  {len(layers)} attention layers per LoRA (UNet + text encoder)")
    base = timed("digest of every UNet + text-encoder tensor", lambda: digest(unet, text_encoder), results)

    with tempfile.TemporaryDirectory() as folder:
        paths = [
            write_lora(Path(folder) / f"lora{i}.safetensors", layers, rank, i)
            for i, rank in enumerate((32, 16, 32))
        ]
        sizes = ", ".join(f"{path.stat().st_size / 2**20:.0f} MB" for path in paths)
        print(f"  LoRA files (rank 32, 16, 32): {sizes}")
        files = [
            timed(f"read {path.name}", lambda path=path: read_lora_file(path, False), results)
            for path in paths
        ]
        uses = [NetworkUse(f.path.stem, f, (str(f.path), i, 0), 0.8, 0.8) for i, f in enumerate(files)]
        patcher = NetworkPatcher()
        timed("apply 1 LoRA (fused)", lambda: patcher.apply(components, uses[:1]), results)
        timed("remove it", lambda: patcher.apply(components, []), results)
        one_removed = digest(unet, text_encoder) == base
        timed("apply 3 LoRAs (fused)", lambda: patcher.apply(components, uses), results)
        fused_step = step_time(unet, text_encoder, size, steps)
        timed("switch 3 LoRAs -> 1 LoRA (fused)", lambda: patcher.apply(components, uses[:1]), results)
        timed("remove it", lambda: patcher.apply(components, []), results)
        three_removed = digest(unet, text_encoder) == base
        timed(
            "apply 3 LoRAs (unfused: forward hooks)",
            lambda: patcher.apply(components, uses, fuse=False),
            results,
        )
        unfused_step = step_time(unet, text_encoder, size, steps)
        timed("remove them (hooks)", lambda: patcher.apply(components, [], fuse=False), results)
        hooks_removed = digest(unet, text_encoder) == base
        plain_step = step_time(unet, text_encoder, size, steps)

    print(
        f"base weights bit-identical after removal: 1 LoRA {one_removed}, 3 LoRAs {three_removed}, hooks {hooks_removed}"
    )
    print(f"UNet + text-encoder step with CFG at {size}x{size} (best of {steps}):")
    print(f"  no LoRA        {plain_step:7.2f} s   1.00x")
    print(f"  3 LoRAs fused  {fused_step:7.2f} s   {fused_step / plain_step:.2f}x")
    print(f"  3 LoRAs hooks  {unfused_step:7.2f} s   {unfused_step / plain_step:.2f}x")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS {peak:.1f} GB")
    if not (one_removed and three_removed and hooks_removed):
        raise SystemExit("base weights changed after removal")


if __name__ == "__main__":
    main()
