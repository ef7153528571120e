"""The OpenVINO UNet in int8: NNCF's post-training quantization of an exported IR.

The exported UNet is quantized as NNCF quantizes a transformer-type model: weights and
activations of the convolutions and MatMuls in int8 (SmoothQuant on the MatMuls, fast bias
correction), activation ranges calibrated on `CALIBRATION_SAMPLES` UNet inputs. The inputs are
made the same way every time, so a checkpoint always gives the same int8 model and a request's
image does not depend on which prompt came first:
- conditioning: the model's own text encoder on `CALIBRATION_PROMPTS` (with the empty negative
  prompt beside each, as classifier-free guidance batches them), so the cross-attention ranges
  are those of real text embeddings, outlier channels included;
- latents: seeded unit-variance noise (a sampler's scaled model input has about unit variance at
  every noise level), timesteps spread from 999 down to 0.

Measured on this project's CPU (AVX-512 BF16 and VNNI): the int8 UNet 1.4-2x faster per step
than OpenVINO's bf16 one, but far from fp32 on the trained starter model (10 dB worst PSNR), so
`openvino_int8` is off by default; NNCF's hybrid mode (int8 weights only for the MatMuls) was
closer (23 dB) and no faster than bf16, so it is not offered (docs/performance.md). The
quantizing takes minutes, once per checkpoint and LoRA set; it is kept on disk beside the export.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

CALIBRATION_SAMPLES = 8
CALIBRATION_PROMPTS = (
    "a photograph of a lighthouse on a cliff at dusk, dramatic clouds, detailed",
    "portrait of an old fisherman, oil painting, warm light",
    "a cat sleeping on a red sofa, soft focus",
    "futuristic city street at night, neon signs, rain, cinematic",
)
SEED = 20261202
INSTALL_HINT = "pip install 'nncf>=3.4,<4'"


class Int8Unavailable(RuntimeError):
    """`nncf` cannot be imported (the message says why and how to install it)."""


def import_nncf() -> Any:
    try:
        import nncf
    except ImportError as error:
        raise Int8Unavailable(f"nncf is not installed ({error}); {INSTALL_HINT}") from None
    return nncf


def unavailable_reason() -> str | None:
    """Why the int8 UNet cannot be made here, or None when it can."""
    try:
        import_nncf()
    except Int8Unavailable as error:
        return str(error)
    return None


def encode_calibration_prompts(pipe: Any) -> list[tuple[Any, ...]]:
    """(negative, positive) text conditioning for each of `CALIBRATION_PROMPTS` from the
    pipeline's own text encoders, as float32 arrays batched like classifier-free guidance:
    (context,) or, for SDXL, (context, pooled text embeds)."""
    import numpy as np
    import torch

    prompts = list(CALIBRATION_PROMPTS)
    with torch.no_grad():
        encoded = pipe.encode_prompt(
            prompt=prompts,
            device=pipe.device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=True,
            negative_prompt=[""] * len(prompts),
        )
    if len(encoded) == 4:  # SDXL: embeds, negative embeds, pooled, negative pooled
        positive, negative, pooled, negative_pooled = encoded
    else:
        (positive, negative), pooled, negative_pooled = encoded, None, None

    def pair(first: Any, second: Any) -> Any:
        return np.ascontiguousarray(torch.stack([first, second]).float().cpu().numpy())

    texts = []
    for index in range(len(prompts)):
        context = pair(negative[index], positive[index])
        if pooled is None:
            texts.append((context,))
        else:
            texts.append((context, pair(negative_pooled[index], pooled[index])))
    return texts


def calibration_inputs(
    example: Sequence[Any], texts: Sequence[tuple[Any, ...]], count: int = CALIBRATION_SAMPLES
) -> list[list[Any]]:
    """`count` UNet input sets shaped like `example` (sample, timestep, conditioning, and SDXL's
    text embeds and time ids): seeded latents, timesteps from 999 down to 0, the conditioning
    of `texts` (`encode_calibration_prompts`) in turn."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    shapes = [tuple(item.shape) for item in example]
    inputs = []
    for index in range(count):
        timestep = 999.0 * (1 - index / max(1, count - 1))
        sample = rng.standard_normal(shapes[0]).astype(np.float32)
        text = texts[index % len(texts)]
        items = [sample, np.array(timestep, dtype=np.float32), text[0]]
        if len(shapes) > 3:  # SDXL: pooled text embeds and (height, width, crop, target size)
            side = shapes[0][-1] * 8
            time_ids = np.tile(np.array([side, side, 0, 0, side, side], dtype=np.float32), (shapes[4][0], 1))
            items += [text[1], time_ids]
        inputs.append(items)
    return inputs


def quantize_unet(
    model: Any, example: Sequence[Any], texts: Sequence[tuple[Any, ...]], count: int = CALIBRATION_SAMPLES
) -> Any:
    """The int8 version of an exported UNet IR, calibrated at the example's latent size with
    `texts` (`encode_calibration_prompts`) as the conditioning."""
    nncf = import_nncf()
    return nncf.quantize(
        model,
        nncf.Dataset(calibration_inputs(example, texts, count)),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=count,
    )
