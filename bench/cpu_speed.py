"""CPU speed of each way to run SD 1.5 - fp32 eager (diffusers' default), channels-last, bf16,
bf16 with token merging (tomesd, ratio 0.5), torch.compile, OpenVINO (the studio's default on a
CPU for full-size models) and each weight quantization (optimum-quanto, torchao, SDNQ,
bitsandbytes) - measured interleaved in one run, with quality against fp32.

    python bench/cpu_speed.py            512x512, 3 rounds, every case
    python bench/cpu_speed.py --quick    512x512, 2 rounds, fp32 / bf16 / openvino / openvino-int8
                                         (~15 min on an idle 2-core machine, most of it the
                                         one-time OpenVINO export and int8 quantizing)
    python bench/cpu_speed.py --cases fp32,openvino --rounds 5 --json out.json

Part 1, the full-size SD 1.5 architecture (the shipped `studio/pipeline/configs/sd15` UNet, VAE
and CLIP text encoder with random weights: the real compute and memory). Each case is prepared
first (copies, quantization, the OpenVINO export and compile, torch.compile's first call: their
one-time costs are reported on their own), then timed in ROUNDS: each round times one UNet step
with CFG (batch 2, 77 tokens) of every case, one VAE decode of every decoder and one prompt
encode (2 x 77 tokens) of every text encoder, one after the other, so a change in the machine's
load hits every case alike; each case's fastest round counts (the least disturbed). An image
is one prompt encode + 20 steps + one decode, each case with its own decoder and text encoder
(fp32 cases: fp32; bf16 cases: bf16; openvino: OpenVINO UNet and decoder in OpenVINO's own
precision, the text encoder in the CPU's default dtype; openvino-int8: the same with the int8
UNet - the studio's default path on a CPU for full-size models). The table gives s/step and s/image and their ratios to fp32 eager, the
relative error of the UNet step against fp32 and the load average of each round.

Part 2, the trained starter model (`models/Diffusers/atelier-starter`) through the real engine:
the same prompts and seeds for each setting (one engine per setting, interleaved by image); PSNR
and SSIM of each image against fp32's, and the engine's time per image. `default` is the studio's
shipped settings (backend auto, which keeps this small model on torch).
"""

from __future__ import annotations

import argparse
import copy
import gc
import io
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
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
    "bf16-channels-last",
    "bf16-tome",
    "compile",
    "compile-bf16",
    "openvino",
    "openvino-int8",
    "int8",
    "int4",
    "torchao-int8",
    "bf16-sdnq-int8",
    "bf16-bnb-int8",
    "bf16-bnb-nf4",
)
# quantizers of the Linear layers, measured on the bf16 copy (the torch path's dtype on this CPU)
LAYER_QUANTIZERS = ("sdnq-int8", "bnb-int8", "bnb-nf4")
QUICK_CASES = ("fp32", "bf16", "openvino", "openvino-int8")
# the decoder and text encoder an image of each case uses
DECODER = {"channels-last": "channels-last", "openvino": "openvino", "openvino-int8": "openvino"}
TOME_RATIO = 0.5  # the studio's `token_merging` default
PROMPTS = ("a red circle", "a blue square", "a green triangle", "a yellow circle")


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def relative_error(out: Any, reference: Any) -> float:
    return float((out.float() - reference).norm() / reference.norm())


def default_dtype_name() -> str:
    """The dtype the studio's policy gives a full-size model on this CPU (bf16 or fp32)."""
    from studio.devices.dtype_policy import cpu_has_fast_bf16

    return "bf16" if cpu_has_fast_bf16() else "fp32"


def decoder_of(case: str) -> str:
    if case in DECODER:
        return DECODER[case]
    return "bf16" if "bf16" in case else "fp32"


def text_encoder_of(case: str) -> str:
    if case.startswith("openvino"):
        return default_dtype_name()
    return "bf16" if "bf16" in case else "fp32"


# -- part 1: the full-size architecture -------------------------------------------------------------
def build_models() -> tuple[Any, Any, Any]:
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config(
        json.loads((CONFIGS / "unet" / "config.json").read_text(encoding="utf-8"))
    ).eval()
    vae = AutoencoderKL.from_config(json.loads((CONFIGS / "vae" / "config.json").read_text(encoding="utf-8")))
    text = CLIPTextModel(CLIPTextConfig.from_pretrained(CONFIGS / "text_encoder")).eval()
    return unet, vae.eval(), text


def prepare_unet(
    case: str, unet: Any, inputs: tuple[Any, ...], work: Path, texts: Callable[[], Any]
) -> tuple[Callable[[], Any], dict]:
    """A callable running one UNet step of `case`, and its one-time costs (export, int8
    quantizing, compile, first call), weight bytes and first output (`out`); `texts`: the
    int8 calibration conditioning."""
    import torch

    from studio.pipeline.quantize import quantize_module, weight_bytes

    sample, timestep, context = inputs
    info: dict[str, Any] = {}
    if case.startswith("openvino"):
        from studio.pipeline.backends.openvino import OpenVinoModels, _unet_example

        models = OpenVinoModels(work / "openvino")
        start = time.perf_counter()
        int8_texts = texts if case == "openvino-int8" else None
        compiled = models.module("unet", "bench", unet, _unet_example(unet), int8_texts)
        # the export (the first openvino case), the int8 quantizing of it, or reading both from disk
        made = "export_s" if models.exports else "int8_quantize_s" if models.quantizations else "read_s"
        info[made] = round(time.perf_counter() - start, 1)
        start = time.perf_counter()
        info["out"] = compiled.run([sample, timestep, context])
        info["compile_s"] = round(time.perf_counter() - start, 1)
        weights = "unet-int8.bin" if int8_texts else "unet.bin"
        info["weight_bytes"] = sum(path.stat().st_size for path in (work / "openvino").rglob(weights))
        return (lambda: compiled.run([sample, timestep, context])), info
    model = unet
    dtype = torch.bfloat16 if "bf16" in case else torch.float32
    if dtype == torch.bfloat16:
        model = copy.deepcopy(unet).to(torch.bfloat16)
    if case.endswith("channels-last"):
        model = (model if model is not unet else copy.deepcopy(unet)).to(memory_format=torch.channels_last)
    elif case in ("int8", "int4", "torchao-int8"):
        model = copy.deepcopy(unet)
        quantize_module(model, case)
    layer_quantizer = next((mode for mode in LAYER_QUANTIZERS if case.endswith(mode)), None)
    if layer_quantizer:
        quantize_module(model, layer_quantizer)
    if case.endswith("tome"):  # the `token_merging` memory strategy's default: half the tokens
        import tomesd

        tomesd.apply_patch(model, ratio=TOME_RATIO)
    info["weight_bytes"] = weight_bytes(model)
    call = torch.compile(model) if case.startswith("compile") else model
    args = (sample.to(dtype), timestep, context.to(dtype))

    def step() -> Any:
        with torch.no_grad():
            return call(*args[:2], encoder_hidden_states=args[2]).sample

    start = time.perf_counter()
    info["out"] = step()
    info["first_call_s"] = round(time.perf_counter() - start, 1)
    return step, info


def prepare_decoder(case: str, vae: Any, latents: Any, work: Path) -> Callable[[], Any]:
    import torch

    if case == "openvino":
        from studio.pipeline.backends.openvino import OpenVinoModels

        compiled = OpenVinoModels(work / "openvino").module(
            "vae_decoder", "bench", vae, (torch.randn(1, 4, 8, 8),)
        )
        compiled.run([latents])  # compile this size
        return lambda: compiled.run([latents])
    dtype = torch.bfloat16 if case == "bf16" else torch.float32
    model = vae if case == "fp32" else copy.deepcopy(vae).to(dtype)
    if case == "channels-last":
        model = model.to(memory_format=torch.channels_last)

    def decode() -> Any:
        with torch.no_grad():
            return model.decode(latents.to(dtype)).sample

    return decode


def prepare_text_encoder(case: str, text: Any, ids: Any) -> Callable[[], Any]:
    import torch

    model = text if case == "fp32" else copy.deepcopy(text).to(torch.bfloat16)

    def encode() -> Any:
        with torch.no_grad():
            return model(ids)[0]

    return encode


def full_size(size: int, rounds: int, cases: list[str], work_dir: Path | None) -> dict[str, Any]:
    import torch

    unet, vae, text = build_models()
    latent = size // 8
    generator = torch.Generator().manual_seed(1)
    inputs = (
        torch.randn(2, 4, latent, latent, generator=generator),
        torch.tensor(500.0),
        torch.randn(2, 77, 768, generator=generator),
    )
    latents = torch.randn(1, 4, latent, latent, generator=generator)
    ids = torch.randint(0, 49408, (2, 77), generator=generator)
    decoders = sorted({decoder_of(case) for case in cases})
    encoders = sorted({text_encoder_of(case) for case in cases})
    info: dict[str, dict[str, Any]] = {}
    calls: dict[str, Callable[[], Any]] = {}
    outputs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="cpu-speed-") as folder:
        work = work_dir or Path(folder)

        def texts() -> list[tuple[Any, ...]]:  # int8 calibration: the (random) text encoder's output
            with torch.no_grad():
                return [(text(ids)[0].float().numpy(),)]

        # openvino first: its export's peak memory comes before the copies of the other cases
        for case in sorted(cases, key=lambda name: not name.startswith("openvino")):
            print(f"  preparing UNet {case} ...", flush=True)
            try:
                calls[f"unet {case}"], info[case] = prepare_unet(case, unet, inputs, work, texts)
            except Exception as error:  # a case that cannot run here is reported, not fatal
                info[case] = {"error": f"{type(error).__name__}: {error}"[:300]}
            outputs[f"unet {case}"] = info[case].pop("out", None)
            print(f"    {info[case]}", flush=True)
            gc.collect()
        for case in decoders:
            calls[f"decode {case}"] = prepare_decoder(case, vae, latents, work)
        for case in encoders:
            calls[f"encode {case}"] = prepare_text_encoder(case, text, ids)
        for name, call in calls.items():  # warm the decoders and encoders; the outputs compared
            if not name.startswith("unet"):
                outputs[name] = call()
        times: dict[str, list[float]] = {name: [] for name in calls}
        loads = []
        for number in range(rounds):
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
            loads.append(load_average())
            print(
                f"  round {number + 1}/{rounds} (load {loads[-1]}): "
                + ", ".join(f"{name} {values[-1]:.2f}" for name, values in times.items()),
                flush=True,
            )
    # the fastest round: the one least disturbed by other work on a shared machine
    seconds = {name: min(values) for name, values in times.items()}
    rows = []
    for case in cases:
        row: dict[str, Any] = {"case": case, **info[case]}
        if "error" not in row:
            row["s_per_step"] = seconds[f"unet {case}"]
            row["relative_error"] = relative_error(outputs[f"unet {case}"], outputs["unet fp32"])
            row["decoder"], row["text_encoder"] = decoder_of(case), text_encoder_of(case)
            row["image_s"] = (
                seconds[f"encode {row['text_encoder']}"]
                + STEPS_PER_IMAGE * row["s_per_step"]
                + seconds[f"decode {row['decoder']}"]
            )
            # the same image's ratio to fp32 round by round: each round's cases ran side by side
            row["image_x_fp32_by_round"] = [
                image_seconds(times, "fp32", number) / image_seconds(times, case, number)
                for number in range(rounds)
            ]
        rows.append(row)
    parts = [
        {
            "part": name,
            "s": value,
            "relative_error": relative_error(outputs[name], outputs[name.split()[0] + " fp32"]),
        }
        for name, value in seconds.items()
        if not name.startswith("unet")
    ]
    return {"unet": rows, "parts": parts, "round_loads": loads, "rounds": rounds, "round_seconds": times}


def image_seconds(times: dict[str, list[float]], case: str, number: int) -> float:
    """One image of `case` in round `number`: prompt encode + the steps + decode."""
    return (
        times[f"encode {text_encoder_of(case)}"][number]
        + STEPS_PER_IMAGE * times[f"unet {case}"][number]
        + times[f"decode {decoder_of(case)}"][number]
    )


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


STARTER_SETTINGS: dict[str, dict[str, Any]] = {
    "fp32": {"backend": "torch"},
    "default": {},
    "bf16": {"backend": "torch", "dtype": "bf16"},
    "bf16-tome": {"backend": "torch", "dtype": "bf16", "memory": {"token_merging": {"ratio": TOME_RATIO}}},
    "openvino": {"backend": "openvino", "openvino_int8": False},
    "openvino-int8": {"backend": "openvino", "openvino_int8": True},
    "channels-last": {"backend": "torch", "channels_last": True},
    "compile": {"backend": "torch", "torch_compile": True},
    "int8": {"backend": "torch", "quantize_unet": "int8"},
    "int4": {"backend": "torch", "quantize_unet": "int4"},
    "torchao-int8": {"backend": "torch", "quantize_unet": "torchao-int8"},
    **{
        f"bf16-{mode}": {"backend": "torch", "dtype": "bf16", "quantize_unet": mode}
        for mode in LAYER_QUANTIZERS
    },
    "int8 + text encoder int8": {
        "backend": "torch",
        "quantize_unet": "int8",
        "quantize_text_encoder": "int8",
    },
}


def starter_quality(cases: list[str], seeds: int) -> list[dict[str, Any]]:
    import numpy as np
    from PIL import Image

    from studio.config import StudioConfig
    from studio.pipeline.engine import Engine
    from studio.request import GenerationRequest

    def pixels(png: bytes) -> Any:
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.float64)

    wanted = [name for name in STARTER_SETTINGS if name in ("fp32", "default") or name.split(" ")[0] in cases]
    rows = []
    with tempfile.TemporaryDirectory(prefix="cpu-speed-starter-") as folder:
        data = Path(folder)
        (data / "models").mkdir()
        base = StudioConfig(data_dir=data, builtin_models_dir=ROOT / "models", cost_check="off")
        engines = {name: Engine(replace(base, **STARTER_SETTINGS[name])) for name in wanted}
        side = engines["fp32"].native_size()  # the starter's trained size
        requests = [
            GenerationRequest(prompt=prompt, seed=seed, steps=20, width=side, height=side, save_images=False)
            for prompt in PROMPTS
            for seed in range(seeds)
        ]
        used: dict[str, str] = {}
        for name, engine in engines.items():  # load, export, compile
            used[name] = engine.generate(requests[0]).runtime["backend"]["used"]
        images: dict[str, list[Any]] = {name: [] for name in engines}
        seconds: dict[str, float] = dict.fromkeys(engines, 0.0)
        for request in requests:  # interleaved: each image with every setting in turn
            for name, engine in engines.items():
                start = time.perf_counter()
                images[name].append(pixels(engine.generate(request).images[0].png))
                seconds[name] += time.perf_counter() - start
        reference = images["fp32"]
        for name in engines:
            pairs = list(zip(images[name], reference, strict=True))
            rows.append(
                {
                    "case": name,
                    "backend_used": used[name],
                    "s_per_image": seconds[name] / len(requests),
                    "psnr_db": min(psnr(image, ref) for image, ref in pairs),
                    "psnr_mean_db": float(np.mean([psnr(image, ref) for image, ref in pairs])),
                    "ssim": float(np.mean([ssim(image, ref) for image, ref in pairs])),
                }
            )
            print(f"  starter {name}: {rows[-1]}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"2 rounds of {','.join(QUICK_CASES)}")
    parser.add_argument("--size", type=int, default=512, help="image size (default 512)")
    parser.add_argument("--rounds", type=int, help="timed rounds (default 3; 2 with --quick)")
    parser.add_argument("--cases", help=f"comma-separated subset of {','.join(UNET_CASES)}")
    parser.add_argument("--seeds", type=int, help="seeds per prompt on the starter model (2; 1 with --quick)")
    parser.add_argument("--skip-starter", action="store_true", help="no part 2")
    parser.add_argument("--skip-full", action="store_true", help="no part 1 (the starter model only)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--work", type=Path, help="keep the OpenVINO export here and reuse it (default: a temp folder)"
    )
    args = parser.parse_args()
    import torch

    rounds = args.rounds or (2 if args.quick else 3)
    seeds = args.seeds or (1 if args.quick else 2)
    cases = args.cases.split(",") if args.cases else list(QUICK_CASES if args.quick else UNET_CASES)
    unknown = sorted(set(cases) - set(UNET_CASES))
    if unknown:
        parser.error(f"unknown cases {unknown}; known: {', '.join(UNET_CASES)}")
    if "fp32" not in cases:
        cases.insert(0, "fp32")
    report: dict[str, Any] = {
        "size": args.size,
        "threads": torch.get_num_threads(),
        "load_average_before": load_average(),
    }
    print(
        f"SD 1.5 architecture at {args.size}x{args.size}, {torch.get_num_threads()} threads, load {load_average()}"
    )
    if not args.skip_full:
        report.update(full_size(args.size, rounds, cases, args.work))
    if not args.skip_starter:
        print("starter model through the engine ...", flush=True)
        report["starter"] = starter_quality(cases, seeds)
    report["load_average_after"] = load_average()
    report["peak_rss_gb"] = round(peak_rss_gb(), 1)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")


def print_report(report: dict[str, Any]) -> None:
    print(
        f"\nload average {report['load_average_before']} -> {report['load_average_after']}; "
        f"peak RSS {report['peak_rss_gb']} GB; {report['threads']} threads"
    )
    if "unet" in report:
        rows = report["unet"]
        base = next(row for row in rows if row["case"] == "fp32")
        print(
            f"\nSD 1.5 architecture at {report['size']} px, fastest of {report['rounds']} interleaved rounds "
            f"(loads at each round: {' | '.join(report['round_loads'])}).\n"
            f"An image = prompt encode + {STEPS_PER_IMAGE} UNet steps with CFG + VAE decode. "
            "x fp32 = speed-up over diffusers' fp32 eager."
        )
        print(
            f"{'case':<20}{'s/step':>8}{'x fp32':>8}{'s/image':>9}{'x fp32':>8}{'rel.err':>9}"
            f"{'weights GB':>11}  {'decoder / text encoder':<24}one-time cost"
        )
        default = "openvino" if any(r["case"] == "openvino" and "error" not in r for r in rows) else None
        for row in rows:
            label = row["case"] + (" *" if row["case"] == default else "")
            if "error" in row:
                print(f"{label:<20} failed: {row['error']}")
                continue
            once = ", ".join(
                f"{key[:-2]} {row[key]:.0f} s"
                for key in ("export_s", "int8_quantize_s", "read_s", "compile_s", "first_call_s")
                if key in row
            )
            print(
                f"{label:<20}{row['s_per_step']:>8.2f}{base['s_per_step'] / row['s_per_step']:>8.2f}"
                f"{row['image_s']:>9.1f}{base['image_s'] / row['image_s']:>8.2f}{row['relative_error']:>9.4f}"
                f"{row.get('weight_bytes', 0) / 1e9:>11.2f}  {row['decoder'] + ' / ' + row['text_encoder']:<24}{once}"
            )
        if default:
            print("* the studio's default on this CPU for a full-size SD 1.x/2.x/SDXL model (backend auto)")
        print("per image x fp32, round by round (each round's cases side by side): median [each round]")
        for row in rows:
            if "error" not in row and row["case"] != "fp32":
                by_round = row["image_x_fp32_by_round"]
                print(
                    f"  {row['case']:<20}{statistics.median(by_round):>6.2f}  "
                    f"[{', '.join(f'{value:.2f}' for value in by_round)}]"
                )
        for part in report["parts"]:
            kind = part["part"].split()[0]
            reference = next(p["s"] for p in report["parts"] if p["part"] == f"{kind} fp32")
            print(
                f"  {part['part']:<24}{part['s']:>8.2f} s  x{reference / part['s']:.2f}"
                f"  rel.err {part['relative_error']:.4f}"
            )
    for row in report.get("starter", []):
        print(
            f"starter {row['case']:<26} ({row['backend_used']}) {row['s_per_image']:.2f} s/image  "
            f"PSNR min {row['psnr_db']:.1f} dB (mean {row['psnr_mean_db']:.1f})  SSIM {row['ssim']:.4f}"
        )


if __name__ == "__main__":
    main()
