"""Each model family at its real size with random weights: seconds per denoising step, text
encoding and VAE decode, and peak memory, on the device given.

    python bench/families.py --device cuda                      # every family, 4 steps each
    python bench/families.py --device cuda --t5-on-cpu          # the T5 on the CPU (t5_on_cpu)
    python bench/families.py --device cpu --families sdxl --steps 1 --parts denoiser
    python bench/families.py --estimate                         # the memory estimate, no device

The parts are built from the config folders Atelier ships (`studio/pipeline/configs/`), so the
architectures are exactly the published ones; weights are random (each class's own
initialisation, created on the device in the benchmark's dtype, no download). `--device meta`
runs every forward on shapes only: a quick check that the script fits each architecture. Each step runs the batch the family's default settings run: two
images' worth (CFG) for SDXL and SD 3.5, one for Flux.1 (distilled guidance, no CFG) and
Z-Image Turbo (CFG 1). Text encoders run at the sequence lengths the pipelines use (CLIP 77,
T5 256 for SD 3.5 and 512 for Flux, Qwen3 512). Native size 1024x1024 for all but SD 1.x (512).
Peak memory: `torch.cuda.max_memory_allocated` on a GPU, the process's peak RSS on the CPU.
Families run one after another; each is freed before the next.

`--t5-on-cpu` builds the T5 encoder of SD 3.5 and Flux on the CPU (bf16, or float32 with
`--dtype float32`) and the rest on the device, as the `t5_on_cpu` memory strategy places them:
the encode time is then the CPU's, and the peak GPU memory lacks the T5's weights.
`--estimate` prints what the studio's memory estimate (`studio.memory.estimate` through the cost
profile's meta-device replay) says each family needs at its native size, in 16 bits: the table
in docs/models.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.pipeline.families.sources import CONFIGS_DIR  # noqa: E402
from studio.pipeline.families.spec import ARCHITECTURES, FAMILIES  # noqa: E402

BENCH_ARCHITECTURES = (
    "sd15",
    "sdxl",
    "sdxl-refiner",
    "sd35-medium",
    "sd35-large",
    "flux-dev",
    "flux-schnell",
    "z-image-turbo",
    "chroma",
)
CFG_BATCH = {"sd15": 2, "sdxl": 2, "sdxl-refiner": 2, "sd3": 2, "flux": 1, "z-image": 1, "chroma": 2}
TEXT_LENGTHS = {"clip": 77, "open-clip": 77, "t5": 512, "qwen3": 512}


def _build(architecture: str, part_name: str, device: Any, dtype: Any) -> Any:
    """One part with random weights (the classes' own initialisation), created on `device` in
    `dtype` directly: no CPU copy, no float32 detour."""
    import diffusers
    import torch
    import transformers

    folder = CONFIGS_DIR / architecture
    library, class_name = json.loads((folder / "model_index.json").read_text())[part_name]
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            if library == "diffusers":
                cls = getattr(diffusers, class_name)
                model = cls.from_config(cls.load_config(folder / part_name))
            else:
                cls = getattr(transformers, class_name)
                model = cls(cls.config_class.from_pretrained(folder / part_name))
    finally:
        torch.set_default_dtype(previous)
    return model.to(device=device, dtype=dtype).eval()


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(device: Any, run: Any, repeats: int) -> float:
    """Seconds per call: one warm-up, then the mean of `repeats` calls."""
    run()
    _sync(device)
    started = time.perf_counter()
    for _ in range(repeats):
        run()
    _sync(device)
    return (time.perf_counter() - started) / max(1, repeats)


def _denoiser_inputs(
    family: str, model: Any, batch: int, size: int, device: Any, dtype: Any
) -> dict[str, Any]:
    import torch

    def randn(*shape: int) -> Any:
        return torch.randn(*shape, device=device, dtype=dtype)

    config = model.config
    latent = size // 8
    timestep = torch.full((batch,), 500.0, device=device)
    if family in ("sd15", "sdxl", "sdxl-refiner"):
        inputs = {
            "sample": randn(batch, config.in_channels, latent, latent),
            "timestep": timestep,
            "encoder_hidden_states": randn(batch, 77, config.cross_attention_dim),
        }
        if family != "sd15":
            time_ids = 5 if family == "sdxl-refiner" else 6
            pooled = config.projection_class_embeddings_input_dim - time_ids * config.addition_time_embed_dim
            inputs["added_cond_kwargs"] = {
                "text_embeds": randn(batch, pooled),
                "time_ids": randn(batch, time_ids),
            }
        return inputs
    if family == "sd3":
        return {
            "hidden_states": randn(batch, config.in_channels, latent, latent),
            "encoder_hidden_states": randn(batch, 77 + 256, config.joint_attention_dim),
            "pooled_projections": randn(batch, config.pooled_projection_dim),
            "timestep": timestep,
        }
    if family == "chroma":  # Flux's transformer without the pooled vector and guidance
        tokens = (latent // 2) ** 2
        return {
            "hidden_states": randn(batch, tokens, config.in_channels),
            "encoder_hidden_states": randn(batch, 512, config.joint_attention_dim),
            "timestep": timestep / 1000,
            "img_ids": torch.zeros(tokens, 3, device=device),
            "txt_ids": torch.zeros(512, 3, device=device),
        }
    if family == "flux":
        tokens = (latent // 2) ** 2
        inputs = {
            "hidden_states": randn(batch, tokens, config.in_channels),
            "encoder_hidden_states": randn(batch, 512, config.joint_attention_dim),
            "pooled_projections": randn(batch, config.pooled_projection_dim),
            "timestep": timestep / 1000,
            "img_ids": torch.zeros(tokens, 3, device=device),
            "txt_ids": torch.zeros(512, 3, device=device),
        }
        if config.guidance_embeds:
            inputs["guidance"] = torch.full((batch,), 3.5, device=device)
        return inputs
    # Z-Image: lists of per-image latents and caption features
    return {
        "x": [randn(config.in_channels, 1, latent, latent) for _ in range(batch)],
        "t": timestep / 1000,
        "cap_feats": [randn(256, config.cap_feat_dim) for _ in range(batch)],
    }


def _peak_bytes(device: Any) -> int:
    import torch

    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    if device.type == "meta":
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def bench_architecture(
    architecture: str, device: Any, dtype: Any, steps: int, parts: set[str], t5_on_cpu: bool = False
) -> dict[str, Any]:
    import torch

    arch = ARCHITECTURES[architecture]
    family = FAMILIES[arch.family]
    size = family.native_size
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    row: dict[str, Any] = {
        "architecture": architecture,
        "label": arch.label,
        "size": size,
        "dtype": str(dtype),
    }
    started = time.perf_counter()
    denoiser = _build(architecture, family.denoiser.name, device, dtype)
    row["denoiser_params_b"] = round(sum(p.numel() for p in denoiser.parameters()) / 1e9, 2)
    built = {family.denoiser.name: denoiser}
    placed: dict[str, Any] = {}
    if "encoders" in parts or "vae" in parts:
        for part in family.parts:
            wanted = "vae" if part.kind == "vae" else "encoders"
            if part is not family.denoiser and wanted in parts:
                on_cpu = t5_on_cpu and part.kind == "t5" and device.type != "meta"  # meta: shapes only
                placed[part.name] = torch.device("cpu") if on_cpu else device
                part_dtype = (
                    (torch.float32 if dtype == torch.float32 else torch.bfloat16) if on_cpu else dtype
                )
                built[part.name] = _build(architecture, part.name, placed[part.name], part_dtype)
    row["build_s"] = round(time.perf_counter() - started, 1)
    row["weights_gb"] = round(
        sum(p.numel() * p.element_size() for model in built.values() for p in model.parameters()) / 2**30, 2
    )
    row["t5"] = "cpu" if any(place.type == "cpu" != device.type for place in placed.values()) else str(device)
    with torch.inference_mode():
        batch = CFG_BATCH[family.name]
        inputs = _denoiser_inputs(family.name, denoiser, batch, size, device, dtype)
        row["batch"] = batch
        row["s_per_step"] = round(_timed(device, lambda: denoiser(**inputs, return_dict=False), steps), 3)
        if "encoders" in parts:
            seconds = 0.0
            for part in family.parts:
                if part.name in built and part.kind in TEXT_LENGTHS:
                    model = built[part.name]
                    length = 256 if (family.name == "sd3" and part.kind == "t5") else TEXT_LENGTHS[part.kind]
                    vocab = model.config.vocab_size
                    ids = torch.randint(0, vocab, (batch, length), device=placed[part.name])

                    def encode(model: Any = model, ids: Any = ids) -> Any:
                        # the embeddings go to the denoiser's device in its dtype, as the studio does
                        return model(ids)[0].to(device, dtype)

                    seconds += _timed(device, encode, 1)
            row["encode_s"] = round(seconds, 3)
        if "vae" in parts:
            vae = built["vae"]
            latents = torch.randn(
                1, vae.config.latent_channels, size // 8, size // 8, device=device, dtype=dtype
            )
            row["vae_decode_s"] = round(_timed(device, lambda: vae.decode(latents), 1), 3)
    row["peak_gb"] = round(_peak_bytes(device) / 2**30, 2)
    return row  # the parts go with this frame; main() collects before the next family


def estimate_architecture(architecture: str) -> dict[str, Any]:
    """What the studio's estimate says `architecture` needs at its native size in 16 bits: the
    weights (of which the T5's) and the peak working memory of one step and of the decode."""
    import torch

    from studio.memory.estimate import DeviceSpeed, JobShape, estimate_job
    from studio.pipeline.cost_profile import component_configs, profile_model

    arch = ARCHITECTURES[architecture]
    family = FAMILIES[arch.family]
    meta = torch.device("meta")
    weights = t5 = 0
    for part in family.parts:
        count = sum(p.numel() for p in _build(architecture, part.name, meta, torch.bfloat16).parameters())
        weights += 2 * count
        t5 += 2 * count if part.kind == "t5" else 0

    class Folder:  # what component_configs reads: a diffusers folder's layout
        format, path = "diffusers", CONFIGS_DIR / architecture

    configs = component_configs(Folder())  # type: ignore[arg-type]
    denoiser = configs.get("unet") or configs["transformer"]
    cost = profile_model(denoiser, configs["vae"], weights=weights)
    cost = type(cost)(
        **{**cost.__dict__, "denoiser": _scaled(cost.denoiser), "decoder": _scaled(cost.decoder)}
    )
    size = family.native_size
    shape = JobShape(width=size, height=size, steps=1, cfg=CFG_BATCH[family.name] == 2)
    estimate = estimate_job(
        cost, shape, DeviceSpeed(1e12, 1e12), device="", weights_loaded=True, available_bytes=None
    )
    return {
        "label": arch.label,
        "size": size,
        "weights": weights,
        "t5": t5,
        "working": estimate.working_bytes,
    }


def _scaled(cost: Any) -> Any:
    """The replay counts float32 activations; the table is for 16-bit models."""
    return type(cost)(cost.linear_flops, cost.attention_flops, cost.bytes_per_pixel / 2)


def print_estimates(architectures: list[str]) -> None:
    gb = 1e9
    print(
        "| family | size | weights (GB) | of which T5 | working memory (GB) | total | total, T5 on the CPU |"
    )
    print("|" + "---|" * 7)
    from studio.pipeline.cost_profile import UnsupportedModel

    for architecture in architectures:
        try:
            row = estimate_architecture(architecture)
        except UnsupportedModel as error:
            print(f"| {ARCHITECTURES[architecture].label} | no estimate: {error} |")
            continue
        total = row["weights"] + row["working"]
        t5 = f"{row['t5'] / gb:.1f}" if row["t5"] else "-"
        moved = f"{(total - row['t5']) / gb:.1f}" if row["t5"] else "-"
        print(
            f"| {row['label']} | {row['size']} | {row['weights'] / gb:.1f} | {t5} | {row['working'] / gb:.1f} "
            f"| {total / gb:.1f} | {moved} |",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    parser.add_argument(
        "--families",
        default=None,
        help=f"comma-separated: {', '.join(BENCH_ARCHITECTURES)} "
        "(also sd3 = both SD 3.5, flux = both Flux.1); default: all on cuda, sdxl on cpu",
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="timed steps after one warm-up (default 4 on cuda, 1 on cpu)"
    )
    parser.add_argument("--dtype", default=None, help="bfloat16 (default) or float32 / float16")
    parser.add_argument(
        "--parts", default=None, help="denoiser,encoders,vae (default: all on cuda, denoiser on cpu)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument(
        "--t5-on-cpu", action="store_true", help="build the T5 encoder on the CPU (the t5_on_cpu strategy)"
    )
    parser.add_argument(
        "--estimate", action="store_true", help="print the memory estimate of every family (no device)"
    )
    args = parser.parse_args(argv)
    import torch

    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    aliases = {
        "sd3": ["sd35-medium", "sd35-large"],
        "flux": ["flux-dev", "flux-schnell"],
        "z-image": ["z-image-turbo"],
    }
    wanted = (
        args.families.split(",") if args.families else (list(BENCH_ARCHITECTURES) if on_gpu else ["sdxl"])
    )
    architectures = [name for item in wanted for name in aliases.get(item.strip(), [item.strip()])]
    unknown = [name for name in architectures if name not in BENCH_ARCHITECTURES]
    if unknown:
        parser.error(
            f"--families: unknown {', '.join(unknown)}; choose from {', '.join(BENCH_ARCHITECTURES)}"
        )
    if args.estimate:
        print_estimates(architectures if args.families else list(BENCH_ARCHITECTURES))
        return 0
    dtype = getattr(torch, args.dtype or "bfloat16")
    steps = args.steps or (4 if on_gpu else 1)
    parts = set((args.parts or ("denoiser,encoders,vae" if on_gpu else "denoiser")).split(","))
    name = torch.cuda.get_device_name(device) if on_gpu else f"CPU ({torch.get_num_threads()} threads)"
    print(
        f"# {name}, torch {torch.__version__}, {dtype}, {steps} timed step(s), parts: {', '.join(sorted(parts))}"
    )
    rows = []
    header = (
        "| family | size | batch | denoiser params (B) | weights (GB) | T5 on | s/step | encode s "
        "| VAE decode s | peak (GB) |"
    )
    print(header)
    print("|" + "---|" * 10)
    for architecture in architectures:
        try:
            row = bench_architecture(architecture, device, dtype, steps, parts, args.t5_on_cpu)
        except torch.OutOfMemoryError as error:  # report, free, go on with the next family
            row = {
                "architecture": architecture,
                "label": ARCHITECTURES[architecture].label,
                "error": f"out of memory: {error}"[:200],
            }
            gc.collect()
            if on_gpu:
                torch.cuda.empty_cache()
        gc.collect()
        if on_gpu:
            torch.cuda.empty_cache()
        rows.append(row)
        if "error" in row:
            print(f"| {row['label']} | {row['error']} |")
            continue
        print(
            f"| {row['label']} | {row['size']} | {row['batch']} | {row['denoiser_params_b']} | {row['weights_gb']} | "
            f"{row['t5'] if any(p.kind == 't5' for p in FAMILIES[ARCHITECTURES[architecture].family].parts) else '-'} | "
            f"{row['s_per_step']} | {row.get('encode_s', '-')} | {row.get('vae_decode_s', '-')} | {row['peak_gb']} |",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
