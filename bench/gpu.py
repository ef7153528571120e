"""GPU speed and memory, for a machine with a CUDA (or ROCm) GPU (figures, not a test).

    python bench/gpu.py             every case (a few minutes on a recent GPU)
    python bench/gpu.py --quick     fewer steps, no SDXL, no "best" compile

Cases, all with random weights (the speed does not depend on them), fp16 unless the dtype
policy says otherwise, CFG on, a fixed seed:
- `sd15 eager`: bare diffusers StableDiffusionPipeline, 512x512, batch 4: it/s of the
  denoising loop (timed by the step callback, the first step left out) and peak VRAM;
- `sd15 compile`: the same with `torch.compile(unet)` (default mode), after one warm-up call;
- `sd15 best`: channels-last UNet and VAE, fused QKV projections, `torch.compile` in
  "max-autotune-no-cudagraphs" mode with inductor's conv-1x1-as-mm and coordinate descent
  tuning (diffusers' recipe for fast SD inference);
- `sd15 studio`: the studio's own engine (`--device cuda`, dtype policy auto, memory policy
  auto) on the same architecture saved as a diffusers folder: what a user gets;
- `sdxl eager`: StableDiffusionXLPipeline at 1024x1024, batch 1.
Every figure is also printed as a ratio to `sd15 eager` (bare diffusers on the same machine).
Without a GPU it stops at once and says so (exit status 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CONFIGS = ROOT / "studio" / "pipeline" / "configs"
PROMPT = "a lighthouse on a cliff at dusk, oil painting"


def need_gpu() -> Any:
    import torch

    if not torch.cuda.is_available():
        print(
            "bench/gpu.py needs a CUDA or ROCm GPU and torch sees none "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda}, ROCm build: "
            f"{getattr(torch.version, 'hip', None)}). Run bench/memory.py or bench/cpu_speed.py on a CPU.",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return torch


def components(architecture: str, torch: Any, dtype: Any, device: str = "cuda") -> dict[str, Any]:
    """Random-weight modules of a shipped architecture config, made on `device`."""
    import diffusers
    import transformers

    folder = CONFIGS / architecture
    index = json.loads((folder / "model_index.json").read_text())
    parts: dict[str, Any] = {}
    torch.manual_seed(0)
    for name, value in index.items():
        if name.startswith("_") or not isinstance(value, list) or value[0] is None:
            continue
        library, class_name = value
        path = folder / name
        if name.startswith("tokenizer"):
            parts[name] = getattr(transformers, class_name).from_pretrained(path)
        elif name == "scheduler":
            parts[name] = getattr(diffusers, class_name).from_pretrained(path)
        elif library == "transformers":
            config_class = getattr(transformers, class_name).config_class
            with torch.device(device):
                parts[name] = getattr(transformers, class_name)(config_class.from_pretrained(path)).to(dtype)
        else:
            with torch.device(device):
                config = json.loads((path / "config.json").read_text())
                parts[name] = getattr(diffusers, class_name).from_config(config).to(dtype)
    for optional in ("safety_checker", "feature_extractor", "image_encoder"):
        if optional in index:
            parts[optional] = None
    return parts


def timed(pipe: Any, torch: Any, steps: int, **kwargs: Any) -> dict[str, float]:
    """it/s of the denoising loop (first step left out: warm-up) and the call's peak VRAM."""
    marks: list[float] = []

    def on_step(pipeline: Any, index: int, timestep: Any, callback_kwargs: dict) -> dict:
        torch.cuda.synchronize()
        marks.append(time.perf_counter())
        return callback_kwargs

    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    pipe(
        PROMPT,
        num_inference_steps=steps,
        generator=torch.Generator("cuda").manual_seed(1),
        callback_on_step_end=on_step,
        output_type="pil",
        **kwargs,
    )
    torch.cuda.synchronize()
    total = time.perf_counter() - started
    return {
        "it_per_s": round((len(marks) - 1) / (marks[-1] - marks[0]), 2),
        "image_seconds": round(total, 2),
        "peak_vram_mb": round(torch.cuda.max_memory_allocated() / 2**20),
    }


def sd15_cases(torch: Any, steps: int, quick: bool) -> dict[str, dict[str, float]]:
    from diffusers import StableDiffusionPipeline

    dtype = torch.float16
    pipe = StableDiffusionPipeline(**components("sd15", torch, dtype), requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    size = {"width": 512, "height": 512, "num_images_per_prompt": 4, "guidance_scale": 7.0}
    results = {"sd15 eager": timed(pipe, torch, steps, **size)}
    eager_unet = pipe.unet
    pipe.unet = torch.compile(eager_unet)
    started = time.perf_counter()
    timed(pipe, torch, 2, **size)  # compiles
    compiled = timed(pipe, torch, steps, **size)
    compiled["compile_seconds"] = round(time.perf_counter() - started, 1)
    results["sd15 compile"] = compiled
    if not quick:
        import torch._inductor.config as inductor

        torch._dynamo.reset()
        inductor.conv_1x1_as_mm = True
        inductor.coordinate_descent_tuning = True
        inductor.epilogue_fusion = False
        pipe.unet = eager_unet
        pipe.fuse_qkv_projections()
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
        pipe.unet = torch.compile(pipe.unet, mode="max-autotune-no-cudagraphs")
        started = time.perf_counter()
        timed(pipe, torch, 2, **size)
        best = timed(pipe, torch, steps, **size)
        best["compile_seconds"] = round(time.perf_counter() - started, 1)
        results["sd15 best"] = best
    del pipe
    torch._dynamo.reset()
    torch.cuda.empty_cache()
    return results


def studio_case(torch: Any, steps: int, work: Path) -> dict[str, float]:
    """The studio's engine on the same architecture (a random-weight diffusers folder)."""
    from bench.memory import MODEL, build_model
    from studio.config import StudioConfig
    from studio.pipeline.engine import Engine
    from studio.progress import GenerationControl
    from studio.request import GenerationRequest

    build_model(work / "models")
    config = StudioConfig(
        data_dir=work / "data",
        models_dir=work / "models",
        builtin_models_dir=work / "builtin",
        device="cuda",
        cost_check="off",
    )
    engine = Engine(config)
    marks: list[float] = []

    def on_step(info: Any) -> None:
        torch.cuda.synchronize()
        marks.append(time.perf_counter())

    request = GenerationRequest(
        prompt=PROMPT,
        seed=1,
        steps=steps,
        width=512,
        height=512,
        batch_size=4,
        cfg_scale=7.0,
        sampler_name="Euler",
        model=MODEL,
        save_images=False,
    )
    engine.generate(dataclasses.replace(request, steps=2))  # load, warm up
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = engine.generate(request, GenerationControl(on_step=on_step))
    total = time.perf_counter() - started
    return {
        "it_per_s": round((len(marks) - 1) / (marks[-1] - marks[0]), 2),
        "image_seconds": round(total, 2),
        "peak_vram_mb": round(torch.cuda.max_memory_allocated() / 2**20),
        "dtype": (result.runtime or {}).get("dtype"),
        "memory": (result.runtime or {}).get("memory", {}).get("strategies"),
    }


def sdxl_case(torch: Any, steps: int) -> dict[str, float]:
    from diffusers import StableDiffusionXLPipeline

    parts = components("sdxl", torch, torch.float16)
    parts["vae"].to(torch.float32)  # the dtype policy's upcast beside fp16 (SDXL's VAE overflows)
    pipe = StableDiffusionXLPipeline(**parts)
    pipe.set_progress_bar_config(disable=True)
    result = timed(pipe, torch, steps, width=1024, height=1024, guidance_scale=7.0)
    del pipe
    torch.cuda.empty_cache()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10 steps, no SDXL, no 'best' compile")
    parser.add_argument("--steps", type=int, help="denoising steps per measured call (default 30; quick 10)")
    parser.add_argument("--work", type=Path, help="work folder for the studio case's model folder")
    args = parser.parse_args()
    torch = need_gpu()
    steps = args.steps or (10 if args.quick else 30)
    work = args.work or Path(tempfile.gettempdir()) / "atelier-bench-gpu"
    print(f"GPU: {torch.cuda.get_device_name()}  torch {torch.__version__}  steps {steps}", flush=True)
    results: dict[str, dict[str, Any]] = {}
    cases = [
        ("sd15", lambda: sd15_cases(torch, steps, args.quick)),
        ("sd15 studio", lambda: {"sd15 studio": studio_case(torch, steps, work)}),
    ]
    if not args.quick:
        cases.append(("sdxl eager", lambda: {"sdxl eager": sdxl_case(torch, steps)}))
    for name, run in cases:
        try:
            results.update(run())
        except Exception as error:  # one failed case does not hide the others
            results[name] = {"error": f"{type(error).__name__}: {error}"}
        for case, figures in results.items():
            if "printed" not in figures:
                print(
                    f"{case:<14} {json.dumps({k: v for k, v in figures.items() if k != 'printed'})}",
                    flush=True,
                )
                figures["printed"] = True
    base = results.get("sd15 eager", {}).get("it_per_s")
    print("\nratio to bare diffusers fp16 eager (SD 1.5, 512 px, batch 4):")
    for case, figures in results.items():
        figures.pop("printed", None)
        if base and "it_per_s" in figures and case.startswith("sd15"):
            print(f"  {case:<14} {figures['it_per_s']:>7} it/s  x{figures['it_per_s'] / base:.2f}")
    print(
        json.dumps(
            {
                "gpu": torch.cuda.get_device_name(),
                "steps": steps,
                "results": results,
                "load_average": os.getloadavg(),
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
