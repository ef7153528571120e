"""Hires fix and tiled upscaling, measured (figures, not a test).

    python bench/hires.py                 all cases: first pass 256 px (hires target 512 px);
                                          tiled 2x upscale of 512, 1024 and 2048 px; whole of 512, 1024 px
    python bench/hires.py --quick         first pass 64 px; tiled of 256 and 512 px, whole of 256 px
    python bench/hires.py --upscale-only --tiled-sizes 512,1024,2048,4096 --whole-sizes ""

Each case runs in a fresh subprocess, so its peak RSS (ru_maxrss) is its own:
- `single`: one txt2img pass at the target size (2x the base size);
- `hires`: a txt2img pass at the base size + a 2x hires pass (Latent, denoise 0.5, same steps);
- `tiled` / `whole`: a tiny random-weight ESRGAN (2x) upscaling an N x N image with 256 px
  tiles (32 px overlap) or in one go, for each N asked: peak RSS and its growth during the
  upscale, and the bytes of the uint8 output (array and PIL image) that growth must include.
  Flat memory shows as a growth that stays close to the output's own bytes as N grows.
Uses the tiny offline model (built into a temp data dir), so the times compare the paths, not a
real model's quality or speed. Report `uptime` with the figures on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_generation(case: str, data: Path, base: int, steps: int) -> dict:
    from studio.config import StudioConfig
    from studio.pipeline.engine import Engine
    from studio.request import GenerationRequest

    engine = Engine(StudioConfig(data_dir=data, builtin_models_dir=data / "builtin", model_cache_size=1))
    request = GenerationRequest(prompt="a lighthouse at dusk", seed=1, steps=steps, save_images=False)
    if case == "single":
        request = replace(request, width=base * 2, height=base * 2)
    else:
        request = replace(request, width=base, height=base, enable_hr=True, denoising_strength=0.5)
    engine.generate(GenerationRequest(prompt="warm up", steps=1, width=64, height=64, save_images=False))
    started = time.perf_counter()
    result = engine.generate(request)
    seconds = time.perf_counter() - started
    return {
        "case": case,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_rss_mb()),
        "images": len(result.images),
    }


def run_upscale(case: str, data: Path, size: int) -> dict:
    import numpy as np
    from PIL import Image

    from studio.pipeline.upscalers.models import ModelUpscalers

    upscalers = ModelUpscalers(data / "models", lambda: False)
    model = upscalers.load(upscalers.find("bench-esrgan-2x"))
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8))
    before = peak_rss_mb()
    started = time.perf_counter()
    out = model.upscale(image, size * 2, size * 2, tile=256 if case == "tiled" else 0, overlap=32)
    return {
        "case": case,
        "size": f"{size}->{out.width}",
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mb": round(peak_rss_mb()),
        "rss_growth_mb": round(peak_rss_mb() - before),
        "output_uint8_mb": round(out.width * out.height * 3 / 2**20),
    }


def prepare(data: Path) -> None:
    import torch
    from safetensors.torch import save_file

    from studio.pipeline.tiny_model import build_tiny_pipeline
    from studio.pipeline.upscalers.models import import_spandrel

    build_tiny_pipeline(data / "models" / "Diffusers" / "bench-tiny")
    (data / "builtin").mkdir(exist_ok=True)
    import_spandrel()
    from spandrel.architectures.ESRGAN.__arch.RRDB import RRDBNet

    torch.manual_seed(0)
    network = RRDBNet(in_nc=3, out_nc=3, num_filters=16, num_blocks=1, scale=2)
    (data / "models" / "ESRGAN").mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in network.state_dict().items()},
        str(data / "models" / "ESRGAN" / "bench-esrgan-2x.safetensors"),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--case")
    parser.add_argument("--data")
    parser.add_argument("--base", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--size", type=int, default=2048, help="with --case tiled|whole")
    parser.add_argument("--tiled-sizes", help="comma-separated input sizes for the tiled upscale")
    parser.add_argument("--whole-sizes", help="comma-separated input sizes for the untiled upscale")
    parser.add_argument("--upscale-only", action="store_true")
    args = parser.parse_args()
    if args.case:
        sys.path.insert(0, str(ROOT))
        data = Path(args.data)
        if args.case in ("single", "hires"):
            print(json.dumps(run_generation(args.case, data, args.base, args.steps)))
        else:
            print(json.dumps(run_upscale(args.case, data, args.size)))
        return
    base = 64 if args.quick else args.base
    tiled = _sizes(args.tiled_sizes, "256,512" if args.quick else "512,1024,2048")
    whole = _sizes(args.whole_sizes, "256" if args.quick else "512,1024")
    cases = [] if args.upscale_only else [("single", 0), ("hires", 0)]
    cases += [("tiled", size) for size in tiled] + [("whole", size) for size in whole]
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        sys.path.insert(0, str(ROOT))
        prepare(data)
        for case, size in cases:
            command = [sys.executable, __file__, "--case", case, "--data", str(data)]
            command += ["--base", str(base), "--steps", str(args.steps), "--size", str(size)]
            done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
            if done.returncode != 0:
                raise SystemExit(f"case {case} failed:\n{done.stderr[-2000:]}")
            print(done.stdout.strip().splitlines()[-1], flush=True)


def _sizes(text: str | None, default: str) -> list[int]:
    text = default if text is None else text
    return [int(part) for part in text.split(",") if part.strip()]


if __name__ == "__main__":
    main()
