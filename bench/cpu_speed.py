"""CPU speed of each way to run SD 1.5: fp32 eager, channels-last, bf16, torch.compile, OpenVINO
and each weight quantization, side by side in one run, with quality against fp32.

    python bench/cpu_speed.py            512x512, 2 timed UNet steps per case (after a warm-up)
    python bench/cpu_speed.py --quick    256x256, 1 timed step per case, no torch.compile
    python bench/cpu_speed.py --cases fp32,openvino --json out.json

Part 1, full-size SD 1.5 architecture (the shipped `studio/pipeline/configs/sd15` UNet and VAE
with random weights: the real compute and memory): one UNet step with CFG (batch 2, 77 tokens)
per case; its relative error against fp32 eager (||out - fp32|| / ||fp32||); the UNet's weight
bytes; one VAE decode (fp32, bf16, OpenVINO); an image's time estimated as 20 steps + one
decode; each ratio to fp32 eager. OpenVINO runs through the studio's own backend
(`studio.pipeline.backends.openvino`), quantization through `studio.pipeline.quantize`; the
OpenVINO export time is reported on its own (it is paid once per checkpoint).

Part 2, the trained starter model (`models/Diffusers/atelier-starter`) through the real engine:
the same prompts and seeds with fp32, OpenVINO and each quantization; PSNR and SSIM of each
image against fp32's, and the engine's time per image.

The machine is shared: the load average is printed before and after, and only ratios measured in
one run mean much.
"""

from __future__ import annotations

import argparse
import copy
import gc
import io
import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CONFIGS = ROOT / "studio" / "pipeline" / "configs" / "sd15"
STEPS_PER_IMAGE = 20
UNET_CASES = (
    "fp32",
    "channels-last",
    "bf16",
    "compile",
    "compile-bf16",
    "openvino",
    "int8",
    "int4",
    "torchao-int8",
)
QUICK_SKIPS = ("compile", "compile-bf16")
PROMPTS = ("a red circle", "a blue square", "a green triangle", "a yellow circle")


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def timed(function: Any, repeats: int, first: dict[str, Any] | None = None) -> tuple[float, Any]:
    """Seconds per call (after one warm-up call, whose seconds go in `first["first_call_s"]`)
    and the last output."""
    start = time.perf_counter()
    out = function()
    if first is not None:
        first["first_call_s"] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    for _ in range(repeats):
        out = function()
    return (time.perf_counter() - start) / repeats, out


def relative_error(out: Any, reference: Any) -> float:
    return float((out.float() - reference).norm() / reference.norm())


# -- part 1: the full-size architecture -------------------------------------------------------------
def build_models() -> tuple[Any, Any]:
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config(
        json.loads((CONFIGS / "unet" / "config.json").read_text(encoding="utf-8"))
    ).eval()
    vae = AutoencoderKL.from_config(json.loads((CONFIGS / "vae" / "config.json").read_text(encoding="utf-8")))
    return unet, vae.eval()


def unet_case(case: str, unet: Any, inputs: tuple[Any, ...], repeats: int, work: Path) -> dict[str, Any]:
    import torch

    from studio.pipeline.quantize import quantize_module, weight_bytes

    sample, timestep, context = inputs
    result: dict[str, Any] = {"case": case}
    model = unet
    dtype = torch.bfloat16 if case.endswith("bf16") else torch.float32
    if case == "openvino":
        from studio.pipeline.backends.openvino import OpenVinoModels, _unet_example

        models = OpenVinoModels(work / "openvino")
        start = time.perf_counter()
        compiled = models.module("unet", "bench", unet, _unet_example(unet))
        result["export_s"] = round(time.perf_counter() - start, 1)
        start = time.perf_counter()
        compiled.run([sample, timestep, context])
        result["compile_s"] = round(time.perf_counter() - start, 1)
        seconds, out = timed(lambda: compiled.run([sample, timestep, context]), repeats)
        result["weight_bytes"] = sum(path.stat().st_size for path in (work / "openvino").rglob("unet.bin"))
        result.update(s_per_step=seconds, out=out)
        return result
    if case in ("bf16", "compile-bf16"):
        model = copy.deepcopy(unet).to(torch.bfloat16)
    elif case == "channels-last":
        model = copy.deepcopy(unet).to(memory_format=torch.channels_last)
    elif case in ("int8", "int4", "torchao-int8"):
        model = copy.deepcopy(unet)
        quantize_module(model, case)
    result["weight_bytes"] = weight_bytes(model)
    call = model
    if case.startswith("compile"):
        call = torch.compile(model)
    args = (sample.to(dtype), timestep, context.to(dtype))
    if case == "channels-last":
        args = (args[0].to(memory_format=torch.channels_last), *args[1:])

    def step() -> Any:
        with torch.no_grad():
            return call(*args[:2], encoder_hidden_states=args[2]).sample

    seconds, out = timed(step, repeats, result)
    result.update(s_per_step=seconds, out=out)
    return result


def vae_cases(vae: Any, latents: Any, repeats: int, work: Path, cases: list[str]) -> list[dict[str, Any]]:
    import torch

    rows = []
    for case in ("fp32", "bf16", "openvino"):
        if case not in cases:
            continue
        if case == "openvino":
            from studio.pipeline.backends.openvino import OpenVinoModels

            models = OpenVinoModels(work / "openvino")
            compiled = models.module("vae_decoder", "bench", vae, (torch.randn(1, 4, 8, 8),))
            seconds, out = timed(lambda compiled=compiled: compiled.run([latents]), repeats)
        else:
            model = vae if case == "fp32" else copy.deepcopy(vae).to(torch.bfloat16)
            dtype = torch.float32 if case == "fp32" else torch.bfloat16

            def decode(model: Any = model, dtype: Any = dtype) -> Any:
                with torch.no_grad():
                    return model.decode(latents.to(dtype)).sample

            seconds, out = timed(decode, repeats)
        rows.append({"case": case, "s_per_decode": seconds, "out": out})
        print(f"    VAE decode {case}: {seconds:.2f} s", flush=True)
    return rows


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key != "out"}


def full_size(size: int, repeats: int, cases: list[str]) -> dict[str, Any]:
    import torch

    unet, vae = build_models()
    latent = size // 8
    generator = torch.Generator().manual_seed(1)
    inputs = (
        torch.randn(2, 4, latent, latent, generator=generator),
        torch.tensor(500.0),
        torch.randn(2, 77, 768, generator=generator),
    )
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cpu-speed-") as folder:
        work = Path(folder)
        for case in cases:
            print(f"  UNet {case} ...", flush=True)
            try:
                row = unet_case(case, unet, inputs, repeats, work)
            except Exception as error:  # a case that cannot run here is reported, not fatal
                row = {"case": case, "error": f"{type(error).__name__}: {error}"[:300]}
            rows.append(row)
            print(f"    {_brief(row)}", flush=True)
            gc.collect()
        decodes = vae_cases(vae, torch.randn(1, 4, latent, latent, generator=generator), repeats, work, cases)
    for group in (rows, decodes):
        reference = next(row for row in group if row["case"] == "fp32")["out"]
        for row in group:
            if "out" in row:
                row["relative_error"] = relative_error(row["out"], reference)
        for row in group:
            row.pop("out", None)
    return {"unet": rows, "vae_decode": decodes}


# -- part 2: the starter model through the engine ------------------------------------------------------
def psnr(a: Any, b: Any) -> float:
    import numpy as np

    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else float(10 * np.log10(255**2 / mse))


def ssim(a: Any, b: Any) -> float:
    """Mean SSIM over the RGB channels (7x7 uniform window, the usual constants)."""
    import numpy as np
    from scipy.ndimage import uniform_filter

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for channel in range(a.shape[2]):
        x, y = a[..., channel], b[..., channel]
        mx, my = uniform_filter(x, 7), uniform_filter(y, 7)
        vx = uniform_filter(x * x, 7) - mx * mx
        vy = uniform_filter(y * y, 7) - my * my
        cov = uniform_filter(x * y, 7) - mx * my
        values.append(((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def starter_quality(cases: list[str], seeds: int) -> list[dict[str, Any]]:
    import numpy as np
    from PIL import Image

    from studio.config import StudioConfig
    from studio.pipeline.engine import Engine
    from studio.request import GenerationRequest

    def pixels(png: bytes) -> Any:
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.float64)

    settings = {
        "fp32": {},
        "openvino": {"backend": "openvino"},
        "int8": {"quantize_unet": "int8"},
        "int4": {"quantize_unet": "int4"},
        "torchao-int8": {"quantize_unet": "torchao-int8"},
        "int8 + text encoder int8": {"quantize_unet": "int8", "quantize_text_encoder": "int8"},
    }
    rows = []
    with tempfile.TemporaryDirectory(prefix="cpu-speed-starter-") as folder:
        data = Path(folder)
        (data / "models").mkdir()
        base = StudioConfig(data_dir=data, builtin_models_dir=ROOT / "models", cost_check="off")
        engine = Engine(base)
        side = engine.native_size()  # the starter's trained size
        requests = [
            GenerationRequest(prompt=prompt, seed=seed, steps=20, width=side, height=side, save_images=False)
            for prompt in PROMPTS
            for seed in range(seeds)
        ]
        reference: list[Any] = []
        for name, changes in settings.items():
            wanted = name.split(" ")[0]
            if name != "fp32" and wanted not in cases:
                continue
            engine.config = replace(base, **changes)
            engine.generate(requests[0])  # load, export, compile
            start = time.perf_counter()
            images = [pixels(engine.generate(request).images[0].png) for request in requests]
            seconds = (time.perf_counter() - start) / len(requests)
            if name == "fp32":
                reference = images
            rows.append(
                {
                    "case": name,
                    "s_per_image": seconds,
                    "psnr_db": min(psnr(image, ref) for image, ref in zip(images, reference, strict=True)),
                    "psnr_mean_db": float(
                        np.mean([psnr(image, ref) for image, ref in zip(images, reference, strict=True)])
                    ),
                    "ssim": float(np.mean([ssim(i, r) for i, r in zip(images, reference, strict=True)])),
                }
            )
            print(f"  starter {name}: {rows[-1]}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="256x256, 1 timed step, no torch.compile")
    parser.add_argument("--size", type=int, help="image size (default 512; 256 with --quick)")
    parser.add_argument("--cases", help=f"comma-separated subset of {','.join(UNET_CASES)}")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per prompt on the starter model")
    parser.add_argument("--skip-starter", action="store_true", help="no part 2")
    parser.add_argument("--skip-full", action="store_true", help="no part 1 (the starter model only)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    import torch

    size = args.size or (256 if args.quick else 512)
    repeats = 1 if args.quick else 2
    cases = (
        args.cases.split(",")
        if args.cases
        else [case for case in UNET_CASES if not (args.quick and case in QUICK_SKIPS)]
    )
    if "fp32" not in cases:
        cases.insert(0, "fp32")
    report: dict[str, Any] = {
        "size": size,
        "threads": torch.get_num_threads(),
        "load_average_before": load_average(),
    }
    print(f"SD 1.5 architecture at {size}x{size}, {torch.get_num_threads()} threads, load {load_average()}")
    if not args.skip_full:
        report.update(full_size(size, repeats, cases))
    if not args.skip_starter:
        print("starter model through the engine ...", flush=True)
        report["starter"] = starter_quality(cases, args.seeds)
    report["load_average_after"] = load_average()
    report["peak_rss_gb"] = round(peak_rss_gb(), 1)
    if not args.skip_full:
        print_report(report)
    else:
        report["load_average_after"] = load_average()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")


def print_report(report: dict[str, Any]) -> None:
    rows = report["unet"]
    base = next(row for row in rows if row["case"] == "fp32")["s_per_step"]
    decode_base = next(row for row in report["vae_decode"] if row["case"] == "fp32")["s_per_decode"]
    decodes = {row["case"]: row["s_per_decode"] for row in report["vae_decode"]}
    print(
        f"\nUNet step with CFG at {report['size']} px (load {report['load_average_before']} -> "
        f"{report['load_average_after']}; peak RSS {report['peak_rss_gb']} GB)"
    )
    print(
        f"{'case':<14}{'s/step':>8}{'x fp32':>8}{'rel.err':>9}{'weights GB':>11}{'image s':>9}{'x fp32':>8}"
    )
    fp32_image = STEPS_PER_IMAGE * base + decode_base
    for row in rows:
        if "error" in row:
            print(f"{row['case']:<14} failed: {row['error']}")
            continue
        decode = decodes.get(
            row["case"], decodes.get("bf16" if "bf16" in row["case"] else "fp32", decode_base)
        )
        image = STEPS_PER_IMAGE * row["s_per_step"] + decode
        row["image_s_estimate"] = image
        print(
            f"{row['case']:<14}{row['s_per_step']:>8.2f}{base / row['s_per_step']:>8.2f}"
            f"{row['relative_error']:>9.4f}{row.get('weight_bytes', 0) / 1e9:>11.2f}"
            f"{image:>9.1f}{fp32_image / image:>8.2f}"
        )
    for row in report["vae_decode"]:
        print(
            f"VAE decode {row['case']:<9}{row['s_per_decode']:>8.2f} s  x{decode_base / row['s_per_decode']:.2f}"
            f"  rel.err {row['relative_error']:.4f}"
        )
    for row in report.get("starter", []):
        print(
            f"starter {row['case']:<26} {row['s_per_image']:.2f} s/image  PSNR min {row['psnr_db']:.1f} dB "
            f"(mean {row['psnr_mean_db']:.1f})  SSIM {row['ssim']:.4f}"
        )


if __name__ == "__main__":
    main()
