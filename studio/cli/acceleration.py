"""The command-line options for the backend, torch.compile, channels-last and weight
quantization, shared by `serve` and `generate` (config fields `backend`, `openvino_int8`, `torch_compile`,
`channels_last`, `quantize_unet`, `quantize_text_encoder`)."""

from __future__ import annotations

import argparse
from typing import Any

from studio.config import BACKENDS, QUANTIZE_MODES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="what runs the UNet and VAE decoder: auto (default: openvino on a CPU for full-size "
        "SD 1.x/2.x/SDXL models, torch otherwise), torch, or openvino (docs/performance.md)",
    )
    parser.add_argument(
        "--openvino-int8",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the OpenVINO UNet in int8 (default off: NNCF post-training quantization, made once "
        "per model and LoRA set; ~1.5x faster, lower quality; docs/performance.md)",
    )
    parser.add_argument(
        "--torch-compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile the denoiser on the torch backend (default off: measured ~1.07x on a "
        "CPU after minutes of compiling per size; docs/performance.md)",
    )
    parser.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="UNet and VAE weights in channels-last memory format (default off: measured 1.0x on a CPU)",
    )
    parser.add_argument(
        "--quantize-unet",
        choices=QUANTIZE_MODES,
        help="weight quantization of the UNet/transformer (default none; docs/performance.md)",
    )
    parser.add_argument(
        "--quantize-text-encoder",
        choices=QUANTIZE_MODES,
        help="weight quantization of the text encoders (default none)",
    )


def config_values(args: argparse.Namespace) -> dict[str, Any]:
    """The config values the options gave (None for those left out)."""
    return {
        "backend": args.backend,
        "openvino_int8": args.openvino_int8,
        "torch_compile": args.torch_compile,
        "channels_last": args.channels_last,
        "quantize_unet": args.quantize_unet,
        "quantize_text_encoder": args.quantize_text_encoder,
    }
