"""`python launch.py generate "a prompt" [options]`: one generation from the command line.

Prints where each image was saved and its infotext. Exit status 2 for a bad request.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from studio.cli import acceleration
from studio.request import GenerationRequest, RequestError


def build_parser() -> argparse.ArgumentParser:
    defaults = GenerationRequest()
    parser = argparse.ArgumentParser(
        prog="launch.py generate", description="Generate images from the command line."
    )
    parser.add_argument("prompt")
    parser.add_argument("--negative", "--negative-prompt", dest="negative_prompt", default="")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--seed", type=int, default=-1, help="-1 = random")
    parser.add_argument("--subseed", type=int, default=-1, help="variation seed")
    parser.add_argument("--subseed-strength", type=float, default=0.0)
    parser.add_argument("--sampler", default=defaults.sampler_name, help='A1111 sampler name, e.g. "Euler a"')
    parser.add_argument(
        "--scheduler", default=defaults.scheduler, help="schedule type: Automatic, Karras, ..."
    )
    parser.add_argument("--cfg", type=float, default=defaults.cfg_scale, help="CFG scale")
    parser.add_argument("--width", type=int, default=defaults.width)
    parser.add_argument("--height", type=int, default=defaults.height)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--n-iter", type=int, default=1, help="number of batches")
    parser.add_argument("--clip-skip", type=int, default=1)
    parser.add_argument("--init-image", type=Path, help="img2img / inpaint source image")
    parser.add_argument("--mask", type=Path, help="inpaint mask (white = repaint)")
    parser.add_argument(
        "--strength", type=float, default=defaults.denoising_strength, help="denoising strength"
    )
    parser.add_argument("--mask-blur", type=int, default=defaults.mask_blur)
    parser.add_argument("--model", help="checkpoint title, name or hash (default: the current model)")
    parser.add_argument("--vae", help="VAE name from models/VAE (default: the model's own)")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--models-dir", type=Path)
    parser.add_argument("--device", help="auto, cpu, cuda, rocm, mps, xpu, directml")
    acceleration.add_arguments(parser)
    parser.add_argument("--dtype", help="auto, fp32, fp16, bf16 (default auto: the dtype policy)")
    parser.add_argument("--memory-policy", help="auto (default) or off: the automatic memory policy")
    parser.add_argument(
        "--allow-pickle", action="store_true", default=None, help="allow .ckpt/.pt pickle models"
    )
    parser.add_argument("--no-save", action="store_true", help="do not save under outputs/ (use with -o)")
    parser.add_argument(
        "-o", "--output", type=Path, help="also write the image here (NAME-2.png ... for more)"
    )
    return parser


def request_from_args(args: argparse.Namespace) -> GenerationRequest:
    init_images: tuple[bytes, ...] = ()
    mask = None
    try:
        if args.init_image is not None:
            init_images = (args.init_image.read_bytes(),)
        if args.mask is not None:
            mask = args.mask.read_bytes()
    except OSError as error:
        raise RequestError("init_image" if args.mask is None else "mask", str(error)) from error
    return GenerationRequest(
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        seed=args.seed,
        subseed=args.subseed,
        subseed_strength=args.subseed_strength,
        sampler_name=args.sampler,
        scheduler=args.scheduler,
        steps=args.steps,
        cfg_scale=args.cfg,
        width=args.width,
        height=args.height,
        batch_size=args.batch_size,
        n_iter=args.n_iter,
        clip_skip=args.clip_skip,
        init_images=init_images,
        mask=mask,
        denoising_strength=args.strength,
        mask_blur=args.mask_blur,
        model=args.model,
        vae=args.vae,
        save_images=not args.no_save,
    )


def output_paths(output: Path, count: int) -> list[Path]:
    if count == 1:
        return [output]
    return [output] + [output.with_name(f"{output.stem}-{i + 1}{output.suffix}") for i in range(1, count)]


def main(argv: list[str]) -> int:
    from studio.config import ConfigError, load_config

    args = build_parser().parse_args(argv)
    try:
        config = load_config(
            {
                "data_dir": args.data_dir,
                "models_dir": args.models_dir,
                "device": args.device,
                "dtype": args.dtype,
                "memory_policy": args.memory_policy,
                "allow_pickle": args.allow_pickle,
                **acceleration.config_values(args),
            }
        )
        request = request_from_args(args)
    except (ConfigError, RequestError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from studio.pipeline.engine import Engine, ensure_default_model
    from studio.pipeline.outputs import write_atomic
    from studio.progress import GenerationControl

    engine = Engine(config)
    built = ensure_default_model(config, engine.registry)
    if built is not None:
        print(f"No model found: built the tiny offline model in {built}", file=sys.stderr)
    if args.no_save and args.output is None:
        request = replace(request, save_images=False)
    try:
        for warning in engine.check_cost(request).warnings:  # before the wait, not after it
            print(f"warning: {warning}", file=sys.stderr)
        result = engine.generate(request, GenerationControl())
    except RequestError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    written = output_paths(args.output, len(result.images)) if args.output else []
    for index, image in enumerate(result.images):
        if written:
            write_atomic(written[index], image.png)
        where = ", ".join(str(p) for p in (image.path, written[index] if written else None) if p)
        print(f"saved: {where or '(not saved)'}")
        print(image.infotext)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
