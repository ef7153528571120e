"""Peak memory with the automatic memory policy vs none (figures, not a test).

    python bench/memory.py                     512, 1024 and 2048 px, policy auto and off
    python bench/memory.py --quick             512 and 1024 px only (2048 takes long on a CPU)
    python bench/memory.py --sizes 512 --dtype fp32
    python bench/memory.py --sizes 2048 --policies auto --free-gb 8   as if 8 GB were free

The model is the full-size SD 1.5 architecture (UNet 860 M, VAE, CLIP text encoder) with
random weights, built once from the shipped configs into a work folder (fp16 files, ~2 GB) and
loaded by the real engine with the dtype policy (`--dtype`, default auto) on the torch backend
(`--backend`; the memory strategies act on torch's modules). Each case (size x
policy) runs the engine in a fresh subprocess for one step, CFG on, so its peak RSS
(ru_maxrss) is its own; a GPU also reports peak VRAM. The result's `runtime.memory` says which
strategies the policy added and why. `--free-gb` makes the policy plan as if that much memory
were free (the strategies it then picks really run, and the peak RSS is measured), to see its
choice on a smaller machine. The machine may be shared: the load average is printed with the
figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "studio" / "pipeline" / "configs" / "sd15"
MODEL = "sd15-random"


def build_model(models: Path) -> Path:
    """The SD 1.5 architecture with random weights as a diffusers folder (once)."""
    folder = models / "Diffusers" / MODEL
    if (folder / "model_index.json").exists():
        return folder
    import shutil

    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("model_index.json",):
        shutil.copy(CONFIGS / name, folder / name)
    for name in ("scheduler", "tokenizer"):
        shutil.copytree(CONFIGS / name, folder / name, dirs_exist_ok=True)
    unet = UNet2DConditionModel.from_config(json.loads((CONFIGS / "unet" / "config.json").read_text()))
    unet.to(torch.float16).save_pretrained(folder / "unet")
    del unet
    vae = AutoencoderKL.from_config(json.loads((CONFIGS / "vae" / "config.json").read_text()))
    vae.to(torch.float16).save_pretrained(folder / "vae")
    text = CLIPTextModel(CLIPTextConfig.from_pretrained(CONFIGS / "text_encoder"))
    text.to(torch.float16).save_pretrained(folder / "text_encoder")
    index = json.loads((folder / "model_index.json").read_text())
    for unused in ("safety_checker", "feature_extractor", "image_encoder"):
        index.pop(unused, None)
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))
    return folder


def run_case(
    work: Path, size: int, policy: str, dtype: str, device: str, backend: str, free_gb: float | None
) -> dict:
    from studio.config import StudioConfig
    from studio.pipeline.engine import Engine
    from studio.request import GenerationRequest

    data = work / f"data-{size}-{policy}"
    config = StudioConfig(
        data_dir=data,
        models_dir=work / "models",
        builtin_models_dir=data / "builtin",
        model_cache_size=1,
        cost_check="off",
        memory_policy=policy,
        dtype=dtype,
        device=device,
        backend=backend,
    )
    if free_gb is not None:  # the policy plans as if this much were free
        import studio.pipeline.cost_profile

        studio.pipeline.cost_profile.free_memory = lambda _device: int(free_gb * 1e9)
    engine = Engine(config)
    request = GenerationRequest(
        prompt="a lighthouse at dusk", seed=1, steps=1, width=size, height=size, save_images=False
    )
    started = time.perf_counter()
    result = engine.generate(request)
    seconds = time.perf_counter() - started
    report = {
        "size": size,
        "policy": policy,
        "seconds": round(seconds, 1),
        "timings": {key: round(value, 1) for key, value in result.timings.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "runtime": result.runtime,
    }
    import torch

    if torch.cuda.is_available():
        report["peak_vram_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="512 and 1024 px only")
    parser.add_argument("--sizes", type=int, nargs="*", help="image sizes (default 512 1024 2048)")
    parser.add_argument("--policies", nargs="*", default=["off", "auto"])
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--backend",
        default="torch",
        help="torch (default: the memory strategies act on torch's modules), auto, openvino",
    )
    parser.add_argument("--work", type=Path, help="work folder (keeps the built model between runs)")
    parser.add_argument("--free-gb", type=float, help="plan as if this many GB were free (policy auto)")
    parser.add_argument("--case", nargs=2, metavar=("SIZE", "POLICY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = args.work or Path(tempfile.gettempdir()) / "atelier-bench-memory"
    if args.case:
        print(
            json.dumps(
                run_case(
                    work, int(args.case[0]), args.case[1], args.dtype, args.device, args.backend, args.free_gb
                )
            )
        )
        return 0
    sizes = args.sizes or ([512, 1024] if args.quick else [512, 1024, 2048])
    print(f"building the random SD 1.5 model in {work} (once) ...", flush=True)
    build_model(work / "models")
    rows = []
    for size in sizes:
        for policy in args.policies:
            command = [sys.executable, __file__, "--work", str(work), "--dtype", args.dtype]
            command += ["--device", args.device, "--backend", args.backend, "--case", str(size), policy]
            command += ["--free-gb", str(args.free_gb)] if args.free_gb is not None else []
            load_before = os.getloadavg()[0]
            done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
            if done.returncode != 0:
                print(f"{size} px, policy {policy}: FAILED\n{done.stderr[-2000:]}", flush=True)
                rows.append({"size": size, "policy": policy, "failed": done.stderr[-300:]})
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row["load_average"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
            memory = row["runtime"]["memory"]
            print(
                f"{size:>5} px  policy {policy:<4}  peak RSS {row['peak_rss_mb']:>6} MB"
                + (f"  peak VRAM {row['peak_vram_mb']} MB" if "peak_vram_mb" in row else "")
                + f"  {row['seconds']:>6} s  dtype {row['runtime']['dtype']}"
                f"  added {memory['added']}  ({memory['note']})  load {row['load_average']}",
                flush=True,
            )
            rows.append(row)
    print(json.dumps({"cases": rows, "uptime": os.getloadavg()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
