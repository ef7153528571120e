"""Overhead of the studio's generate path over a bare diffusers call.

    python bench/overhead.py [--quick] [--model DIFFUSERS_FOLDER] [--size 128] [--steps 20] [--repeats 10]

Both sides run the same model (the tiny offline model unless --model is given), size, steps,
sampler (Euler a), CFG and seed, interleaved (the order alternates every round) in one process.

- studio: `Engine.generate(request, control)` with `save_images=False`: validation, model
  lookup in the registry/LRU cache, scheduler from the sampler table, per-image noise, the
  step callback (progress reporting + interrupt checks), infotext, PNG encoding with the
  infotext chunk. Writing files and the history row is NOT measured (the bare side does not
  save either).
- bare: `pipe(prompt, generator=..., ...)` on a pipeline loaded once with the same scheduler
  class, then a plain PNG encode of the image (the equivalent output work).

Prints both medians, the ratio studio/bare (target <= 1.05), the studio's mean time spent
outside the diffusers call (its own overhead, insensitive to CPU contention from other
processes, which makes the medians noisy on a shared machine) and whether the images are
pixel-identical.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64x64, 8 steps, 5 rounds")
    parser.add_argument("--model", type=Path, help="a diffusers folder (default: build the tiny model)")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.steps, args.repeats = 64, 8, 5

    import numpy as np
    import torch
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionPipeline
    from PIL import Image

    from studio.config import StudioConfig
    from studio.pipeline.engine import Engine
    from studio.pipeline.tiny_model import build_tiny_pipeline
    from studio.progress import GenerationControl
    from studio.request import GenerationRequest

    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        models = root / "models" / "Diffusers"
        models.mkdir(parents=True)
        if args.model is None:
            build_tiny_pipeline(models / "bench-model")
        else:
            (models / "bench-model").symlink_to(args.model.resolve(), target_is_directory=True)
        config = StudioConfig(data_dir=root, builtin_models_dir=root / "builtin", device=args.device)
        engine = Engine(config)
        request = GenerationRequest(
            prompt="a red circle on a blue sky",
            seed=1234,
            steps=args.steps,
            width=args.size,
            height=args.size,
            cfg_scale=7.0,
            sampler_name="Euler a",
            save_images=False,
        )
        device = engine.device
        bare = StableDiffusionPipeline.from_pretrained(
            models / "bench-model",
            local_files_only=True,
            dtype=device.dtype,
            safety_checker=None,
            requires_safety_checker=False,
        ).to(device.device)
        bare.set_progress_bar_config(disable=True)
        bare.scheduler = EulerAncestralDiscreteScheduler.from_config(bare.scheduler.config)

        inside = {"seconds": 0.0}

        def run_studio() -> np.ndarray:
            result = engine.generate(request, GenerationControl())
            return np.asarray(Image.open(io.BytesIO(result.images[0].png)).convert("RGB"))

        def timed_call(call):  # measures the engine's time inside the diffusers call
            def wrapper(self, *call_args, **call_kwargs):
                start = time.perf_counter()
                try:
                    return call(self, *call_args, **call_kwargs)
                finally:
                    inside["seconds"] += time.perf_counter() - start

            return wrapper

        def run_bare() -> np.ndarray:
            with torch.no_grad():
                image = bare(
                    request.prompt,
                    num_inference_steps=args.steps,
                    guidance_scale=7.0,
                    width=args.size,
                    height=args.size,
                    generator=[torch.Generator("cpu").manual_seed(request.seed)],
                ).images[0]
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            return np.asarray(image)

        studio_image, bare_image = run_studio(), run_bare()  # warm-up (loads, first-call costs)
        engine_pipe = engine.cache.get(
            engine.registry.find("checkpoint", "bench-model"), device, {}, False
        ).pipeline("txt2img")
        engine_pipe.__class__ = type(
            "TimedPipeline", (type(engine_pipe),), {"__call__": timed_call(type(engine_pipe).__call__)}
        )
        times: dict[str, list[float]] = {"studio": [], "bare": []}
        for round_index in range(args.repeats):
            order = [("studio", run_studio), ("bare", run_bare)]
            for name, function in order if round_index % 2 == 0 else reversed(order):
                start = time.perf_counter()
                function()
                times[name].append(time.perf_counter() - start)
        studio_median = statistics.median(times["studio"])
        bare_median = statistics.median(times["bare"])
        identical = bool(np.array_equal(studio_image, bare_image))
        outside = (sum(times["studio"]) - inside["seconds"]) / args.repeats
        print(f"model: {'tiny (built offline)' if args.model is None else args.model}, device: {device.name}")
        print(f"torch threads: {torch.get_num_threads()}")
        print(
            f"size {args.size}x{args.size}, {args.steps} steps, Euler a, CFG 7, {args.repeats} interleaved rounds"
        )
        print(f"studio generate median: {studio_median * 1000:.1f} ms")
        print(f"bare diffusers median:  {bare_median * 1000:.1f} ms")
        print(f"overhead ratio studio/bare: {studio_median / bare_median:.3f} (target <= 1.05)")
        print(f"studio time outside the diffusers call: {outside * 1000:.1f} ms per generate (mean)")
        print(f"images identical: {identical}")
        return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
