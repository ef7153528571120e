"""The command-line options for the backend and weight quantization, shared by `serve` and
`generate` (config fields `backend`, `quantize_unet`, `quantize_text_encoder`)."""

from __future__ import annotations

import argparse
from typing import Any

from studio.config import BACKENDS, QUANTIZE_MODES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="what runs the UNet and VAE decoder: torch, or openvino on CPU (default torch; docs/performance.md)",
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
        "quantize_unet": args.quantize_unet,
        "quantize_text_encoder": args.quantize_text_encoder,
    }
