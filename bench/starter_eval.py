"""Prompt adherence and speed of the shipped starter model, measured from generated pixels.

    python bench/starter_eval.py                 full evaluation (colour x shape x 3 seeds, ...)
    python bench/starter_eval.py --quick         a cross-section, one seed
    python bench/starter_eval.py --first-image   launch-to-first-image and per-image time
    python bench/starter_eval.py --grid OUT.png  the sample grid, by the X/Y/Z plot script (seeds x prompts)
    python bench/starter_eval.py --model DIR     another diffusers folder (default: the shipped one)
    python bench/starter_eval.py --backend diffusers   a bare StableDiffusionPipeline instead of the Engine

By default every image goes through the studio's own path (`studio.pipeline.engine.Engine`
with a `GenerationRequest`), exactly as the UI and the API ask for it.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from studio.starter.dataset import SHAPES  # noqa: E402
from studio.starter.evaluation import Generate, build_cases, evaluate  # noqa: E402

SHIPPED = ROOT / "models" / "Diffusers" / "atelier-starter"
DEFAULTS = {"steps": 20, "cfg_scale": 7.0, "sampler": "Euler a", "size": 64}


def engine_config(model: Path, workdir: Path) -> Any:
    """A StudioConfig whose only model is a copy of `model` (so the Engine picks it)."""
    from studio.config import StudioConfig

    data_dir = workdir / "data"
    (data_dir / "models" / "Diffusers").mkdir(parents=True)
    shutil.copytree(model, data_dir / "models" / "Diffusers" / model.name)
    builtin = workdir / "builtin"
    builtin.mkdir()
    return StudioConfig(data_dir=data_dir, builtin_models_dir=builtin)


def engine_generator(model: Path, workdir: Path, steps: int, cfg: float, sampler: str, size: int) -> Generate:
    """Generate through the studio's Engine, with `model` as the only model it knows."""
    from studio.pipeline.engine import Engine
    from studio.progress import GenerationControl
    from studio.request import GenerationRequest

    engine = Engine(engine_config(model, workdir))

    def generate(prompt: str, seed: int) -> Image.Image:
        request = GenerationRequest(
            prompt=prompt,
            seed=seed,
            steps=steps,
            cfg_scale=cfg,
            sampler_name=sampler,
            width=size,
            height=size,
            save_images=False,
        )
        result = engine.generate(request, GenerationControl())
        return Image.open(io.BytesIO(result.images[0].png)).convert("RGB")

    return generate


def diffusers_generator(model: Path, steps: int, cfg: float, sampler: str, size: int) -> Generate:
    """Generate with a bare diffusers StableDiffusionPipeline (Euler ancestral for "Euler a")."""
    import torch
    from diffusers import EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(model, dtype=torch.float32, local_files_only=True)
    scheduler_class = EulerAncestralDiscreteScheduler if sampler == "Euler a" else EulerDiscreteScheduler
    pipe.scheduler = scheduler_class.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)

    def generate(prompt: str, seed: int) -> Image.Image:
        generator = torch.Generator().manual_seed(seed)
        return pipe(
            prompt,
            num_inference_steps=steps,
            guidance_scale=cfg,
            height=size,
            width=size,
            generator=generator,
        ).images[0]

    return generate


def make_generator(args: argparse.Namespace, workdir: Path) -> Generate:
    if args.backend == "engine":
        return engine_generator(args.model, workdir, args.steps, args.cfg, args.sampler, args.size)
    return diffusers_generator(args.model, args.steps, args.cfg, args.sampler, args.size)


def run_evaluation(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        generate = make_generator(args, Path(tmp))
        load_s = time.perf_counter() - started
        cases = build_cases(seeds=range(args.seeds), quick=args.quick)
        started = time.perf_counter()
        report = evaluate(generate, cases)
        elapsed = time.perf_counter() - started
    print(
        f"model {args.model.name}  backend {args.backend}  sampler {args.sampler!r}  steps {args.steps}  "
        f"cfg {args.cfg}  size {args.size}  ({'quick' if args.quick else 'full'})"
    )
    print(f"load {load_s:.2f} s; {len(cases)} images in {elapsed:.1f} s ({elapsed / len(cases):.2f} s/image)")
    targets = {"colour": 0.90, "background": 0.90, "position": 0.80}
    for check, target in targets.items():
        rate = report.rate(check)
        print(f"{check:11s} {rate * 100:5.1f}%  of {report.count(check):3d}  (target {target * 100:.0f}%)")
        for outcome in report.failures(check)[: args.show_failures]:
            centre = outcome.read_centre and tuple(round(float(v), 2) for v in outcome.read_centre)
            print(
                f"    miss: {outcome.case.prompt!r} seed {outcome.case.seed}: read colour "
                f"{outcome.read_colour}, background {outcome.read_background}, centre {centre}"
            )
    by_shape = []
    for shape in SHAPES:
        chosen = [o.passed for o in report.outcomes if o.case.check != "position" and o.case.shape == shape]
        if chosen:
            by_shape.append(f"{shape} {sum(chosen) / len(chosen) * 100:.0f}% of {len(chosen)}")
    print("colour and background right, by shape: " + ", ".join(by_shape))
    return 0


GRID_PROMPTS = (
    "a red circle",
    "a small blue square on the left, yellow background",
    "a large green triangle, white background",
    "a yellow star at the top, black background",
    "a purple diamond on the right, orange background",
    "a small white circle at the bottom, blue background",
    "a large orange square in the center, purple background",
    "a black star, green background",
)


def run_grid(args: argparse.Namespace) -> int:
    """The model card's grid, drawn by the studio's own X/Y/Z plot script through the Engine:
    X = Seed (0..--seeds), Y = Prompt S/R over GRID_PROMPTS."""
    import torch

    from studio.pipeline.engine import Engine
    from studio.progress import GenerationControl
    from studio.request import GenerationRequest
    from studio.scripts.base import Choices
    from studio.scripts.builtin.xyz import XYZ_NAME
    from studio.scripts.builtin.xyz.values import join_list
    from studio.scripts.system import build_script_system

    torch.set_num_threads(args.threads)
    sweep = {
        "x_type": "Seed",
        "x_values": f"0-{args.seeds}",
        "y_type": "Prompt S/R",
        "y_values": join_list(list(GRID_PROMPTS)),  # CSV-quoted, so the prompts' commas survive
    }
    request = GenerationRequest(
        prompt=GRID_PROMPTS[0],
        steps=args.steps,
        cfg_scale=args.cfg,
        sampler_name=args.sampler,
        width=args.size,
        height=args.size,
        save_images=False,
        scripts={XYZ_NAME: sweep},
    )
    with tempfile.TemporaryDirectory() as tmp:
        config = engine_config(args.model, Path(tmp))
        scripts = build_script_system(config, load_extensions=False).scripts
        engine = Engine(config, hooks=scripts)
        run = scripts.runner(engine.generate, choices=lambda: Choices.from_engine(engine))
        result = run(request, GenerationControl())
    args.grid.parent.mkdir(parents=True, exist_ok=True)
    args.grid.write_bytes(result.images[0].png)  # the script's PNG, with its infotext
    print(f"X/Y/Z grid of {len(GRID_PROMPTS)} prompts x seeds 0-{args.seeds} written to {args.grid}")
    return 0


FIRST_IMAGE_CHILD = "--first-image-child"


def first_image_child(args: argparse.Namespace) -> int:
    """Runs in a fresh process: build the Engine, generate one image, print when it is ready."""
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        generate = make_generator(args, Path(tmp))
        generate("a red circle on the left, blue background", 0)
        print(f"FIRST_IMAGE_AT {time.time():.6f}", flush=True)
        times = []
        for seed in range(1, 6):
            started = time.perf_counter()
            generate("a yellow star at the top, black background", seed)
            times.append(time.perf_counter() - started)
        print(f"PER_IMAGE {sorted(times)[len(times) // 2]:.4f}", flush=True)
    return 0


def run_first_image(args: argparse.Namespace) -> int:
    command = [sys.executable, str(Path(__file__).resolve()), FIRST_IMAGE_CHILD, *sys.argv[1:]]
    command = [part for part in command if part != "--first-image"]
    runs = []
    for _ in range(args.repeat):
        started = time.time()
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        values = dict(line.split(" ", 1) for line in output.splitlines() if line.startswith(("FIRST", "PER")))
        runs.append((float(values["FIRST_IMAGE_AT"]) - started, float(values["PER_IMAGE"])))
    first = sorted(r[0] for r in runs)[len(runs) // 2]
    per_image = sorted(r[1] for r in runs)[len(runs) // 2]
    print(
        f"model {args.model.name}  backend {args.backend}  steps {args.steps}  cfg {args.cfg}  size {args.size}"
    )
    print(f"launch-to-first-image (process start -> first image, median of {args.repeat}): {first:.2f} s")
    print(
        f"per image after that (median of 5): {per_image:.3f} s = {per_image / args.steps * 1000:.1f} ms/step"
    )
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--first-image", action="store_true")
    parser.add_argument(FIRST_IMAGE_CHILD, action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--grid", type=Path, default=None, help="write a sample grid PNG here")
    parser.add_argument("--repeat", type=int, default=3, help="launch-to-first-image runs")
    parser.add_argument("--model", type=Path, default=SHIPPED)
    parser.add_argument("--backend", choices=("engine", "diffusers"), default="engine")
    parser.add_argument("--steps", type=int, default=DEFAULTS["steps"])
    parser.add_argument("--cfg", type=float, default=DEFAULTS["cfg_scale"])
    parser.add_argument("--sampler", default=DEFAULTS["sampler"])
    parser.add_argument("--size", type=int, default=DEFAULTS["size"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--show-failures", type=int, default=3)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if getattr(args, FIRST_IMAGE_CHILD[2:].replace("-", "_")):
        return first_image_child(args)
    if args.first_image:
        return run_first_image(args)
    if args.grid is not None:
        return run_grid(args)
    return run_evaluation(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
