"""facexlib's RetinaFace state-dict layout written out independently of the studio's network
(torchvision's ResNet-50 names, facexlib's MobileNet-0.25, FPN, SSH and heads), random weights
in it, and landmark helpers for alignment tests."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _conv_bn(keys: dict[str, tuple[int, ...]], prefix: str, shape: tuple[int, ...], bn: str = "1") -> None:
    keys[f"{prefix}.0.weight"] = shape
    for name in _BN:
        keys[f"{prefix}.{bn}.{name}"] = () if name == "num_batches_tracked" else (shape[0],)


def facexlib_layout(backbone: str) -> dict[str, tuple[int, ...]]:
    """Every key of facexlib's RetinaFace state dict and its shape."""
    keys: dict[str, tuple[int, ...]] = {}
    if backbone == "resnet50":
        keys["body.conv1.weight"] = (64, 3, 7, 7)
        for name in _BN:
            keys[f"body.bn1.{name}"] = () if name == "num_batches_tracked" else (64,)
        inplanes = 64
        for layer, (planes, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), start=1):
            for block in range(blocks):
                prefix = f"body.layer{layer}.{block}"
                shapes = ((planes, inplanes, 1, 1), (planes, planes, 3, 3), (planes * 4, planes, 1, 1))
                for index, shape in enumerate(shapes, start=1):
                    keys[f"{prefix}.conv{index}.weight"] = shape
                    for name in _BN:
                        keys[f"{prefix}.bn{index}.{name}"] = (
                            () if name == "num_batches_tracked" else (shape[0],)
                        )
                if block == 0:
                    _conv_bn(keys, f"{prefix}.downsample", (planes * 4, inplanes, 1, 1))
                inplanes = planes * 4
        stage, out = 256, 256
    else:
        _conv_bn(keys, "body.stage1.0", (8, 3, 3, 3))
        widths = {
            "stage1": [(8, 16), (16, 32), (32, 32), (32, 64), (64, 64)],
            "stage2": [(64, 128)] + [(128, 128)] * 5,
            "stage3": [(128, 256), (256, 256)],
        }
        for stage_name, pairs in widths.items():
            first = 1 if stage_name == "stage1" else 0
            for index, (inp, oup) in enumerate(pairs, start=first):
                prefix = f"body.{stage_name}.{index}"
                _conv_bn(keys, prefix, (inp, 1, 3, 3))
                keys[f"{prefix}.3.weight"] = (oup, inp, 1, 1)
                for name in _BN:
                    keys[f"{prefix}.4.{name}"] = () if name == "num_batches_tracked" else (oup,)
        stage, out = 32, 64
    for index, inp in enumerate((stage * 2, stage * 4, stage * 8), start=1):
        _conv_bn(keys, f"fpn.output{index}", (out, inp, 1, 1))
    for index in (1, 2):
        _conv_bn(keys, f"fpn.merge{index}", (out, out, 3, 3))
    for ssh in ("ssh1", "ssh2", "ssh3"):
        _conv_bn(keys, f"{ssh}.conv3X3", (out // 2, out, 3, 3))
        _conv_bn(keys, f"{ssh}.conv5X5_1", (out // 4, out, 3, 3))
        _conv_bn(keys, f"{ssh}.conv5X5_2", (out // 4, out // 4, 3, 3))
        _conv_bn(keys, f"{ssh}.conv7X7_2", (out // 4, out // 4, 3, 3))
        _conv_bn(keys, f"{ssh}.conv7x7_3", (out // 4, out // 4, 3, 3))
    for head, values in (("ClassHead", 2), ("BboxHead", 4), ("LandmarkHead", 10)):
        for index in range(3):
            keys[f"{head}.{index}.conv1x1.weight"] = (2 * values, out, 1, 1)
            keys[f"{head}.{index}.conv1x1.bias"] = (2 * values,)
    return keys


def random_state(backbone: str, seed: int = 0, prefix: str = "") -> dict[str, Any]:
    """A state dict in facexlib's layout: random weights, BN statistics near identity."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in facexlib_layout(backbone).items():
        if key.endswith("num_batches_tracked"):
            value = torch.tensor(0)
        elif key.endswith("running_var"):
            value = torch.ones(shape)
        elif key.endswith("running_mean") or (key.endswith("bias") and ".conv1x1." not in key):
            value = torch.zeros(shape)
        elif key.endswith(".weight") and len(shape) == 1:
            value = torch.ones(shape)
        else:
            fan_in = max(1, math.prod(shape[1:]))
            value = torch.randn(shape, generator=generator) / math.sqrt(fan_in)
        state[prefix + key] = value
    return state


def write_retinaface(models_path: Path, backbone: str, state: dict[str, Any] | None = None) -> Path:
    from safetensors.torch import save_file

    stem = "detection_Resnet50_Final" if backbone == "resnet50" else "detection_mobilenet0.25_Final"
    path = models_path / "GFPGAN" / f"{stem}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    state = random_state(backbone) if state is None else state
    save_file({key: value.contiguous() for key, value in state.items()}, str(path))
    return path


def rotate_points(points: Any, angle_degrees: float, centre: tuple[float, float]) -> Any:
    """Points turned by `angle_degrees` about `centre` as PIL's Image.rotate turns the image
    (counter-clockwise on screen, y down)."""
    import numpy as np

    angle = math.radians(angle_degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    shifted = np.asarray(points, dtype=np.float64) - centre
    x = shifted[:, 0] * cos + shifted[:, 1] * sin
    y = -shifted[:, 0] * sin + shifted[:, 1] * cos
    return np.stack([x, y], axis=1) + centre


# the drawn face of face_models.drawn_face(128) placed at (100, 30) in face_scene(): eyes,
# nose tip, mouth corners
SCENE_LANDMARKS = ((149.0, 81.0), (179.0, 81.0), (164.0, 104.0), (150.0, 117.5), (178.0, 117.5))


def parsenet_layout() -> dict[str, tuple[int, ...]]:
    """Every key of facexlib's ParseNet(in_size=512, out_size=512, parsing_ch=19) state dict."""
    keys: dict[str, tuple[int, ...]] = {}

    def conv(prefix: str, cin: int, cout: int, norm: bool) -> None:
        keys[f"{prefix}.conv2d.weight"] = (cout, cin, 3, 3)
        if norm:
            for name in _BN:
                keys[f"{prefix}.norm.norm.{name}"] = () if name == "num_batches_tracked" else (cout,)
        else:
            keys[f"{prefix}.conv2d.bias"] = (cout,)

    def block(prefix: str, cin: int, cout: int, shortcut: bool) -> None:
        if shortcut:
            conv(f"{prefix}.shortcut_func", cin, cout, False)
        conv(f"{prefix}.conv1", cin, cout, True)
        conv(f"{prefix}.conv2", cout, cout, True)

    conv("encoder.0", 3, 64, False)
    for index, (cin, cout) in enumerate(((64, 128), (128, 256), (256, 256), (256, 256)), start=1):
        block(f"encoder.{index}", cin, cout, True)
    for index in range(10):
        block(f"body.{index}", 256, 256, False)
    for index, (cin, cout) in enumerate(((256, 256), (256, 256), (256, 128), (128, 64))):
        block(f"decoder.{index}", cin, cout, True)
    conv("out_img_conv", 64, 3, False)
    conv("out_mask_conv", 64, 19, False)
    return keys


def pointing_state() -> dict[str, Any]:
    """A MobileNet-0.25 RetinaFace whose heads ignore the image: no face at strides 8 and 16,
    a face at every stride-32 anchor, boxes = the anchors, landmarks in the FFHQ template's
    places relative to each anchor (landmark = centre + bias * 0.1 * anchor size)."""
    import numpy as np
    import torch

    from studio.pipeline.upscalers.face_align import FFHQ_TEMPLATE_512

    state = random_state("mobilenet0.25")
    for index in range(3):
        for head in ("ClassHead", "BboxHead", "LandmarkHead"):
            state[f"{head}.{index}.conv1x1.weight"].zero_()
            state[f"{head}.{index}.conv1x1.bias"].zero_()
        state[f"ClassHead.{index}.conv1x1.bias"] = torch.tensor(
            [-10.0, 10.0] * 2 if index == 2 else [10.0, -10.0] * 2
        )
    offsets = (np.array(FFHQ_TEMPLATE_512) - 256.0) / 512.0 / 0.1
    state["LandmarkHead.2.conv1x1.bias"] = torch.tensor(np.tile(offsets.reshape(-1), 2), dtype=torch.float32)
    return state
