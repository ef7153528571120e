"""Face parsing for the paste-back mask, as A1111 uses it through facexlib (`use_parse=True`):
facexlib's ParseNet (from PSFRGAN; 512 px in, 19 face-part classes out) with its layer names,
so `parsing_parsenet.pth` loads unchanged. The restored face's parts (skin, brows, eyes, nose,
mouth, ... not hair, hat, neck or background) make the mask; it is blurred twice (101 px
Gaussian, sigma 11), its 10 px border cleared, and it replaces the square soft mask.

The file sits with RetinaFace's, where A1111 keeps facexlib's files: `models/GFPGAN`
(`parsing_parsenet.safetensors` first, `.pth` only with the pickle allowance).
"""

from __future__ import annotations

from math import log2
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

FILE_STEM = "parsing_parsenet"
FOLDERS = ("GFPGAN", "Codeformer", "CodeFormer")
SIZE = 512
# which of the 19 classes belong to the face (facexlib's MASK_COLORMAP, 255 -> 1)
FACE_CLASSES = (0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0, 0)


class ConvLayer(nn.Module):
    """Reflection-padded convolution, optionally after 2x nearest upsampling or with stride 2,
    then batch norm and leaky ReLU when asked (facexlib's names: conv2d, norm.norm)."""

    def __init__(
        self, cin: int, cout: int, scale: str = "none", norm: bool = False, leaky: bool = False
    ) -> None:
        super().__init__()
        self.scale = scale
        self.leaky = leaky
        self.conv2d = nn.Conv2d(cin, cout, 3, 2 if scale == "down" else 1, bias=not norm)
        self.norm = nn.Module()
        if norm:
            self.norm.norm = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == "up":
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"))
        if hasattr(self.norm, "norm"):
            x = self.norm.norm(x)
        return F.leaky_relu(x, 0.2) if self.leaky else x


class ResidualBlock(nn.Module):
    def __init__(self, cin: int, cout: int, scale: str = "none") -> None:
        super().__init__()
        self.shortcut_func = ConvLayer(cin, cout, scale) if scale != "none" or cin != cout else None
        first, second = {"down": ("none", "down"), "up": ("up", "none"), "none": ("none", "none")}[scale]
        self.conv1 = ConvLayer(cin, cout, first, norm=True, leaky=True)
        self.conv2 = ConvLayer(cout, cout, second, norm=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.shortcut_func is None else self.shortcut_func(x)
        return identity + self.conv2(self.conv1(x))


class ParseNet(nn.Module):
    """facexlib's ParseNet(in_size=512, out_size=512, parsing_ch=19): (class logits, image)."""

    def __init__(self, size: int = SIZE, base: int = 64, classes: int = 19, depth: int = 10) -> None:
        super().__init__()

        def clip(channels: int) -> int:
            return max(32, min(channels, 256))

        steps = int(log2(size // min(size, 32)))
        encoder: list[nn.Module] = [ConvLayer(3, base)]
        head = base
        for _ in range(steps):
            encoder.append(ResidualBlock(clip(head), clip(head * 2), "down"))
            head *= 2
        self.encoder = nn.Sequential(*encoder)
        self.body = nn.Sequential(*(ResidualBlock(clip(head), clip(head)) for _ in range(depth)))
        decoder = []
        for _ in range(steps):
            decoder.append(ResidualBlock(clip(head), clip(head // 2), "up"))
            head //= 2
        self.decoder = nn.Sequential(*decoder)
        self.out_img_conv = ConvLayer(clip(head), 3)
        self.out_mask_conv = ConvLayer(clip(head), classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.encoder(x)
        x = self.decoder(features + self.body(features))
        return self.out_mask_conv(x), self.out_img_conv(x)


def build_parsenet(state: dict[str, Any]) -> ParseNet:
    network = ParseNet()
    network.load_state_dict({key.removeprefix("module."): value for key, value in state.items()}, strict=True)
    return network.eval()


def find_parsenet_file(models_path: Path, allow_pickle: bool) -> Path | None:
    suffixes = (".safetensors",) + ((".pth",) if allow_pickle else ())
    for suffix in suffixes:
        for folder in FOLDERS:
            path = models_path / folder / f"{FILE_STEM}{suffix}"
            if path.is_file():
                return path
    return None


def parsing_mask(network: ParseNet, face: Any) -> Any:
    """The soft face mask (float32 in [0, 1], the face's size) of a uint8 RGB face square."""
    import cv2
    import numpy as np

    size = face.shape[0]
    resized = cv2.resize(face, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    tensor = torch.from_numpy(resized / 127.5 - 1.0).permute(2, 0, 1)[None]
    with torch.no_grad():
        classes = network(tensor)[0].argmax(dim=1)[0].numpy()
    mask = np.asarray(FACE_CLASSES, dtype=np.float64)[classes] * 255.0
    mask = cv2.GaussianBlur(mask, (101, 101), 11)
    mask = cv2.GaussianBlur(mask, (101, 101), 11)
    mask[:10, :] = 0
    mask[-10:, :] = 0
    mask[:, :10] = 0
    mask[:, -10:] = 0
    return cv2.resize(mask / 255.0, (size, size)).astype(np.float32)
