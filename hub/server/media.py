"""Preview images: locally generated pictures (Pillow), their BlurHash, content-addressed paths."""

from __future__ import annotations

import hashlib
import io
import math
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from hub.server.records import NewMedia

B83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


def _b83(value: int, length: int) -> str:
    return "".join(B83[(value // 83 ** (length - i)) % 83] for i in range(1, length + 1))


def _to_srgb(value: float) -> int:
    v = min(1.0, max(0.0, value))
    if v <= 0.0031308:
        return int(v * 12.92 * 255 + 0.5)
    return int((1.055 * v ** (1 / 2.4) - 0.055) * 255 + 0.5)


def blurhash(image: Image.Image, x_components: int = 4, y_components: int = 3) -> str:
    """The BlurHash (https://blurha.sh) of an image, computed on a 32x32 thumbnail."""
    small = np.asarray(image.convert("RGB").resize((32, 32)), dtype=np.float64) / 255.0
    linear = np.where(small <= 0.04045, small / 12.92, ((small + 0.055) / 1.055) ** 2.4)
    height, width, _ = linear.shape
    xs, ys = np.arange(width), np.arange(height)
    factors = []
    for j in range(y_components):
        for i in range(x_components):
            basis = np.outer(np.cos(math.pi * j * ys / height), np.cos(math.pi * i * xs / width))
            scale = (1.0 if i == 0 and j == 0 else 2.0) / (width * height)
            factors.append((linear * basis[:, :, None]).sum(axis=(0, 1)) * scale)
    dc, ac = factors[0], factors[1:]
    text = _b83((x_components - 1) + (y_components - 1) * 9, 1)
    max_value = float(max(abs(v) for f in ac for v in f))
    quantised_max = max(0, min(82, math.floor(max_value * 166 - 0.5)))
    max_ac = (quantised_max + 1) / 166
    text += _b83(quantised_max, 1)
    text += _b83((_to_srgb(dc[0]) << 16) + (_to_srgb(dc[1]) << 8) + _to_srgb(dc[2]), 4)
    for f in ac:
        q = [max(0, min(18, math.floor(math.copysign(abs(v / max_ac) ** 0.5, v) * 9 + 9.5))) for v in f]
        text += _b83(q[0] * 19 * 19 + q[1] * 19 + q[2], 2)
    return text


def media_path(sha256: str) -> str:
    return f"media/{sha256[:2].lower()}/{sha256.lower()}.png"


def media_from_png_bytes(png: bytes) -> NewMedia:
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        sha = hashlib.sha256(png).hexdigest().upper()
        return NewMedia(sha, media_path(sha), image.width, image.height, blurhash(image))


def generate_preview(seed: int, size: tuple[int, int] = (128, 160)) -> bytes:
    """A small abstract picture (gradient sky, hills, a sun and shapes), PNG-encoded."""
    rng = random.Random(seed)
    width, height = size
    top = tuple(rng.randrange(40, 256) for _ in range(3))
    bottom = tuple(rng.randrange(0, 200) for _ in range(3))
    t = np.linspace(0, 1, height)[:, None, None]
    gradient = (np.array(top) * (1 - t) + np.array(bottom) * t).astype(np.uint8)
    image = Image.fromarray(np.repeat(gradient, width, axis=1), "RGB")
    draw = ImageDraw.Draw(image)
    sun = (rng.randrange(width), rng.randrange(height // 2))
    radius = rng.randrange(8, 28)
    draw.ellipse([sun[0] - radius, sun[1] - radius, sun[0] + radius, sun[1] + radius], fill=_colour(rng))
    for layer in range(rng.randrange(2, 4)):
        base = height // 2 + layer * height // 8
        points = [(0, height)]
        for x in range(0, width + 16, 16):
            points.append((x, base + rng.randrange(-height // 8, height // 8)))
        points.append((width, height))
        draw.polygon(points, fill=_colour(rng))
    for _ in range(rng.randrange(1, 5)):
        x, y, s = rng.randrange(width), rng.randrange(height), rng.randrange(6, 24)
        shape = rng.choice(("rect", "ellipse", "triangle"))
        if shape == "rect":
            draw.rectangle([x, y, x + s, y + s], fill=_colour(rng))
        elif shape == "ellipse":
            draw.ellipse([x, y, x + s, y + s], fill=_colour(rng))
        else:
            draw.polygon([(x, y + s), (x + s // 2, y), (x + s, y + s)], fill=_colour(rng))
    image = image.filter(ImageFilter.SMOOTH)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))
