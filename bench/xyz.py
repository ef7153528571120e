"""X/Y/Z sweep vs the same requests one by one, through the real API.

    python bench/xyz.py            3x3 Steps x CFG sweep (64x64, 8-16 steps)
    python bench/xyz.py --quick    2x2 sweep, fewer steps

Starts `studio.cli.serve --api-only` in a subprocess (fresh data dir, the tiny offline model),
warms the model up with one request, then in one run:
  A. one POST /sdapi/v1/txt2img with `script_name: "x/y/z plot"` (Steps x CFG Scale),
  B. the same N cell requests as N POST /sdapi/v1/txt2img one after another,
each measured twice in the order A B B A, and prints the mean wall times and the ratio A / B
(target <= 1.0), plus whether each cell of the sweep equals the single request pixel for pixel.
On a shared 2-core machine run it with OMP_NUM_THREADS=1 (torch's two threads spin against other
processes and the timings swing by 2-10x).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data_dir: Path, port: int) -> subprocess.Popen:
    sys.path.insert(0, str(ROOT))
    from studio.pipeline.tiny_model import build_tiny_pipeline

    build_tiny_pipeline(data_dir / "models" / "Diffusers" / "bench-tiny")
    env = {**os.environ, "ATELIER_DEFAULT_MODEL": "bench-tiny", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "studio.cli.serve", "--data-dir", str(data_dir), "--port", str(port)]
    command += ["--api-only", "--no-browser", "--log-level", "warning"]
    return subprocess.Popen(command, cwd=ROOT, env=env)


def wait_up(client: httpx.Client, server: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited with {server.returncode}")
        try:
            if client.get("/sdapi/v1/progress").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not come up")


def pixels(b64: str) -> bytes:
    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB").tobytes()


def txt2img(client: httpx.Client, payload: dict) -> dict:
    response = client.post("/sdapi/v1/txt2img", json=payload)
    if response.status_code != 200:
        raise SystemExit(f"txt2img failed: {response.status_code} {response.text[:500]}")
    return response.json()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2x2 sweep with fewer steps")
    args = parser.parse_args(argv)
    steps = [4, 6] if args.quick else [8, 12, 16]
    cfgs = [5.0, 9.0] if args.quick else [5.0, 7.0, 9.0]
    base = {
        "prompt": "a red circle on a blue square",
        "negative_prompt": "blurry",
        "seed": 1234,
        "width": 64,
        "height": 64,
        "sampler_name": "Euler",
        "save_images": False,
    }
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        server = start_server(Path(folder), port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
                wait_up(client, server)
                txt2img(client, {**base, "steps": 2})  # load the model once for both runs

                sweep_payload = {
                    **base,
                    "steps": steps[0],
                    "script_name": "x/y/z plot",
                    "script_args": [
                        "Steps", ", ".join(map(str, steps)), [],
                        "CFG Scale", ", ".join(f"{c:g}" for c in cfgs), [],
                        "Nothing", "", [],
                        True, True,  # draw legend, include sub-images
                    ],
                }  # fmt: skip

                def run_sweep() -> tuple[float, dict]:
                    started = time.perf_counter()
                    answer = txt2img(client, sweep_payload)
                    return time.perf_counter() - started, answer

                def run_singles() -> tuple[float, list[dict]]:
                    started = time.perf_counter()
                    answers = [  # same order as the sweep: Y outer, X inner
                        txt2img(client, {**base, "steps": step_count, "cfg_scale": cfg})
                        for cfg in cfgs
                        for step_count in steps
                    ]
                    return time.perf_counter() - started, answers

                # A B B A, so drift in machine load hits both sides alike
                sweep_a, sweep = run_sweep()
                singles_a, singles = run_singles()
                singles_b, _ = run_singles()
                sweep_b, _ = run_sweep()
                sweep_s, singles_s = (sweep_a + sweep_b) / 2, (singles_a + singles_b) / 2
        finally:
            server.terminate()
            server.wait(30)

    cells = sweep["images"][1:]
    same = [pixels(a) == pixels(b["images"][0]) for a, b in zip(cells, singles, strict=True)]
    count = len(steps) * len(cfgs)
    print(f"X/Y/Z {len(steps)}x{len(cfgs)} (Steps {steps} x CFG {cfgs}), 64x64, tiny model, CPU")
    print(
        f"  one sweep request         : {sweep_s:7.2f} s  (runs {sweep_a:.2f}, {sweep_b:.2f}; grid + {len(cells)} cells)"
    )
    print(f"  {count} requests one by one    : {singles_s:7.2f} s  (runs {singles_a:.2f}, {singles_b:.2f})")
    print(f"  ratio sweep / one-by-one  : {sweep_s / singles_s:7.3f}  (target <= 1.0)")
    print(f"  cells pixel-identical to the single requests: {sum(same)}/{len(same)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
