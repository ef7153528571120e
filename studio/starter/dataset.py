"""Procedural captioned images for the starter model: one flat-coloured shape on a plain background.

Everything is drawn from a `numpy.random.Generator`, so a seed fixes the whole data set. The
vocabulary (shapes, colours, sizes, positions, background colours) is the one the starter model
learns; the captions are plain English, for example::

    a small red circle on the left, blue background
    a large yellow star
    a green triangle at the top, white background

Each caption part except the shape and its colour is optional, so the model also learns what
to do when the prompt leaves a property open (it picks one). Shapes are drawn at 4x and
box-downsampled, so edges are anti-aliased.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

# Colour name -> RGB. Chosen far apart so the nearest palette colour of a pixel names it.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (245, 225, 30),
    "green": (30, 170, 50),
    "blue": (30, 70, 220),
    "purple": (140, 40, 190),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "diamond")
SIZES: dict[str, float] = {"small": 0.14, "large": 0.25}  # half-extent as a fraction of the side
# Position word -> (caption phrase, centre as fractions of width and height)
POSITIONS: dict[str, tuple[str, tuple[float, float]]] = {
    "left": ("on the left", (0.28, 0.5)),
    "right": ("on the right", (0.72, 0.5)),
    "top": ("at the top", (0.5, 0.28)),
    "bottom": ("at the bottom", (0.5, 0.72)),
    "center": ("in the center", (0.5, 0.5)),
}
# How often an optional caption part is stated (otherwise it is drawn at random, unnamed).
P_SIZE_STATED = 0.7
P_POSITION_STATED = 0.7
P_BACKGROUND_STATED = 0.75
POSITION_JITTER = 0.05  # fraction of the side a stated position may wobble by
SUPERSAMPLE = 4


@dataclass(frozen=True)
class Scene:
    """What one image shows; `None` fields were left out of the caption."""

    shape: str
    colour: str
    background: str
    size: str
    position: str | None  # None: placed anywhere
    centre: tuple[float, float]  # fractions of width, height
    rotation: float  # radians
    size_stated: bool
    background_stated: bool

    @property
    def caption(self) -> str:
        return caption_for(
            self.shape,
            self.colour,
            size=self.size if self.size_stated else None,
            position=self.position,
            background=self.background if self.background_stated else None,
        )


def caption_for(
    shape: str,
    colour: str,
    size: str | None = None,
    position: str | None = None,
    background: str | None = None,
) -> str:
    """The caption the data set uses for these properties (also the prompt to ask with)."""
    words = ["a"]
    if size is not None:
        words.append(size)
    words += [colour, shape]
    text = " ".join(words)
    if position is not None:
        text += " " + POSITIONS[position][0]
    if background is not None:
        text += f", {background} background"
    return text


def vocabulary() -> list[str]:
    """Every word a caption can hold, for the tokenizer."""
    words = {"a", ",", "background"}
    words.update(SHAPES, COLOURS, SIZES)
    for phrase, _ in POSITIONS.values():
        words.update(phrase.split())
    return sorted(words)


def random_scene(rng: np.random.Generator) -> Scene:
    shape = SHAPES[rng.integers(len(SHAPES))]
    colour_names = list(COLOURS)
    colour = colour_names[rng.integers(len(colour_names))]
    background = colour
    while background == colour:
        background = colour_names[rng.integers(len(colour_names))]
    size = list(SIZES)[rng.integers(len(SIZES))]
    size_stated = bool(rng.random() < P_SIZE_STATED)
    half = SIZES[size]
    if rng.random() < P_POSITION_STATED:
        position: str | None = list(POSITIONS)[rng.integers(len(POSITIONS))]
        cx, cy = POSITIONS[position][1]
        cx += rng.uniform(-POSITION_JITTER, POSITION_JITTER)
        cy += rng.uniform(-POSITION_JITTER, POSITION_JITTER)
    else:
        position = None
        cx, cy = rng.uniform(half + 0.02, 1 - half - 0.02, size=2)
    return Scene(
        shape=shape,
        colour=colour,
        background=background,
        size=size,
        position=position,
        centre=(float(cx), float(cy)),
        rotation=float(rng.uniform(-0.3, 0.3)),
        size_stated=size_stated,
        background_stated=bool(rng.random() < P_BACKGROUND_STATED),
    )


def _polygon(shape: str, cx: float, cy: float, r: float, rotation: float) -> list[tuple[float, float]]:
    if shape == "square":
        corners = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
        r *= 0.85
    elif shape == "diamond":
        corners = [(0, -1.15), (0.8, 0), (0, 1.15), (-0.8, 0)]
    elif shape == "triangle":
        corners = [(math.cos(a), math.sin(a)) for a in (-math.pi / 2 + k * 2 * math.pi / 3 for k in range(3))]
        cy += r * 0.2
        r *= 1.2
    elif shape == "star":
        corners = []
        for k in range(10):
            angle = -math.pi / 2 + k * math.pi / 5
            radius = 1.15 if k % 2 == 0 else 0.5
            corners.append((radius * math.cos(angle), radius * math.sin(angle)))
    else:
        raise ValueError(f"shape: unknown {shape!r}")
    cos, sin = math.cos(rotation), math.sin(rotation)
    return [(cx + r * (x * cos - y * sin), cy + r * (x * sin + y * cos)) for x, y in corners]


def render(scene: Scene, resolution: int = 64) -> Image.Image:
    """Draw `scene` as an RGB image of `resolution` x `resolution` pixels."""
    side = resolution * SUPERSAMPLE
    image = Image.new("RGB", (side, side), COLOURS[scene.background])
    draw = ImageDraw.Draw(image)
    cx, cy = scene.centre[0] * side, scene.centre[1] * side
    r = SIZES[scene.size] * side
    fill = COLOURS[scene.colour]
    if scene.shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        draw.polygon(_polygon(scene.shape, cx, cy, r, scene.rotation), fill=fill)
    return image.resize((resolution, resolution), Image.Resampling.BOX)


def generate(seed: int, count: int, resolution: int = 64) -> Iterator[tuple[Image.Image, str, Scene]]:
    """Yield `count` (image, caption, scene) triples; the same seed gives the same sequence."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        scene = random_scene(rng)
        yield render(scene, resolution), scene.caption, scene


def generate_arrays(seed: int, count: int, resolution: int = 64) -> tuple[np.ndarray, list[str]]:
    """The data set as one uint8 array (count, resolution, resolution, 3) and its captions."""
    images = np.empty((count, resolution, resolution, 3), dtype=np.uint8)
    captions: list[str] = []
    for index, (image, caption, _) in enumerate(generate(seed, count, resolution)):
        images[index] = np.asarray(image)
        captions.append(caption)
    return images, captions


def nearest_colour(pixels: np.ndarray) -> np.ndarray:
    """Index into `COLOURS` of the palette colour nearest to each RGB pixel (..., 3)."""
    palette = np.array(list(COLOURS.values()), dtype=np.float32)
    distance = ((pixels[..., None, :].astype(np.float32) - palette) ** 2).sum(-1)
    return distance.argmin(-1)


@dataclass(frozen=True)
class ImageReading:
    """What an image shows, read back from its pixels (used by tests and the evaluation)."""

    background: str  # palette colour of the border pixels
    colour: str | None  # most common palette colour that is not the background
    centre: tuple[float, float] | None  # centre of mass of the non-background pixels, fractions
    coverage: float  # fraction of pixels that are not background


def read_image(image: Image.Image | np.ndarray) -> ImageReading:
    pixels = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    names = list(COLOURS)
    labels = nearest_colour(pixels)
    border = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    background = int(np.bincount(border, minlength=len(names)).argmax())
    foreground = labels != background
    coverage = float(foreground.mean())
    if not foreground.any():
        return ImageReading(names[background], None, None, 0.0)
    counts = np.bincount(labels[foreground], minlength=len(names))
    ys, xs = np.nonzero(foreground)
    height, width = labels.shape
    centre = ((xs.mean() + 0.5) / width, (ys.mean() + 0.5) / height)
    return ImageReading(names[background], names[int(counts.argmax())], centre, coverage)


def position_matches(position: str, centre: tuple[float, float], margin: float = 0.08) -> bool:
    """Whether a centre of mass lies on the side `position` names (centre: within margin*2)."""
    x, y = centre
    if position == "left":
        return x < 0.5 - margin
    if position == "right":
        return x > 0.5 + margin
    if position == "top":
        return y < 0.5 - margin
    if position == "bottom":
        return y > 0.5 + margin
    if position == "center":
        return abs(x - 0.5) < 2 * margin and abs(y - 0.5) < 2 * margin
    raise ValueError(f"position: unknown {position!r}")
