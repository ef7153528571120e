"""ControlNet preprocessors ("modules"): those that need no weights, on numpy and PIL, and the
model-based ones Atelier has the networks for (lineart, HED, PiDiNet, OpenPose, M-LSD, MiDaS,
Depth Anything: `annotators` and the modules it names), run when their weight files are present.

Each takes an RGB PIL image, the processor resolution and the two thresholds, and returns the
control image (RGB, at processor resolution on its short side). A model-based preprocessor
without its weights (each of them, when it needs several), or one Atelier has no network for
(depth_zoe, normal_bae, seg), is refused with an error naming the annotator file expected and where.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from studio.request import RequestError


@dataclass(frozen=True)
class Preprocessor:
    name: str
    run: Callable[[Image.Image, int, float, float], Image.Image] | None
    threshold_a: tuple[str, float, float, float] | None = None  # label, default, min, max
    threshold_b: tuple[str, float, float, float] | None = None
    weights: str | None = None  # annotator file expected under models/ControlNet/annotators/
    network: str | None = None  # the annotator network that runs it (studio.controlnet.annotators)
    variant: str = ""  # HED / PiDiNet: "safe", "scribble"; openpose: "faceonly"; MiDaS: "normal"
    extras: tuple[tuple[str, str], ...] = ()  # further (annotator file, network) it needs


def resize_short_side(image: Image.Image, resolution: int) -> Image.Image:
    """The image with its short side at `resolution`, both sides multiples of 8 (as the extension does)."""
    width, height = image.size
    scale = resolution / min(width, height)
    size = (max(8, round(width * scale / 8) * 8), max(8, round(height * scale / 8) * 8))
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)


def _gray(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float32)


def _rgb(array: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)).convert("RGB")


def _convolve(array: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    pad = kernel.shape[0] // 2
    padded = np.pad(array, pad, mode="edge")
    out = np.zeros_like(array)
    for dy in range(kernel.shape[0]):
        for dx in range(kernel.shape[1]):
            out += kernel[dy, dx] * padded[dy : dy + array.shape[0], dx : dx + array.shape[1]]
    return out


def canny_edges(gray: np.ndarray, low: float, high: float) -> np.ndarray:
    """Canny edge detection (Gaussian 5x5, Sobel, non-maximum suppression, hysteresis); 0/255."""
    g = np.array([1, 4, 6, 4, 1], dtype=np.float32)
    blur = _convolve(gray, np.outer(g, g) / 256.0)
    sx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
    gx, gy = _convolve(blur, sx), _convolve(blur, sx.T)
    magnitude = np.hypot(gx, gy)
    angle = (np.rad2deg(np.arctan2(gy, gx)) + 180.0) % 180.0
    padded = np.pad(magnitude, 1)
    h, w = magnitude.shape

    def shifted(dy: int, dx: int) -> np.ndarray:
        return padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    keep = np.zeros_like(magnitude, dtype=bool)
    for low_angle, high_angle, (dy, dx) in (
        (0, 22.5, (0, 1)),
        (157.5, 180.1, (0, 1)),
        (22.5, 67.5, (1, 1)),
        (67.5, 112.5, (1, 0)),
        (112.5, 157.5, (1, -1)),
    ):
        sector = (angle >= low_angle) & (angle < high_angle)
        local_max = (magnitude >= shifted(dy, dx)) & (magnitude >= shifted(-dy, -dx))
        keep |= sector & local_max
    thin = np.where(keep, magnitude, 0.0)
    strong = thin >= high
    weak = thin >= low
    edges = strong.copy()
    while True:  # hysteresis: grow strong edges through weak pixels (8-connected)
        grown = np.pad(edges, 1)
        neighbours = np.zeros_like(edges)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                neighbours |= grown[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
        new = weak & neighbours
        if (new == edges).all():
            break
        edges = new | edges
    return edges.astype(np.uint8) * 255


def _canny(image: Image.Image, res: int, a: float, b: float) -> Image.Image:
    return _rgb(canny_edges(_gray(resize_short_side(image, res)), a, b))


def _none(image: Image.Image, res: int, a: float, b: float) -> Image.Image:
    return image.convert("RGB")


def _invert(image: Image.Image, res: int, a: float, b: float) -> Image.Image:
    return _rgb(255.0 - np.asarray(resize_short_side(image, res).convert("RGB"), dtype=np.float32))


def _threshold(image: Image.Image, res: int, a: float, b: float) -> Image.Image:
    gray = _gray(resize_short_side(image, res))
    cut = a if a > 0 else gray.mean()  # 0: automatic (mean), as the extension's binary does with Otsu
    return _rgb(np.where(gray > cut, 255.0, 0.0))


def _tile(image: Image.Image, res: int, a: float, b: float) -> Image.Image:
    """tile_resample: the image downsampled by `a` (1..8) and brought back, blurring detail."""
    image = resize_short_side(image, res).convert("RGB")
    factor = max(1.0, a)
    small = image.resize(
        (max(8, int(image.width / factor)), max(8, int(image.height / factor))), Image.Resampling.BICUBIC
    )
    return small.resize(image.size, Image.Resampling.BICUBIC)


def _lineart_standard(image: Image.Image, res: int, a: float, b: float) -> Image.Image:
    """The extension's lineart_standard: the difference from a Gaussian blur (sigma 6), per
    channel max, normalised by its median, clipped; white lines on black."""
    rgb = np.asarray(resize_short_side(image, res).convert("RGB"), dtype=np.float32)
    blurred = np.asarray(
        resize_short_side(image, res).convert("RGB").filter(ImageFilter.GaussianBlur(6.0)), dtype=np.float32
    )
    intensity = np.min(blurred - rgb, axis=2).clip(0, 255)
    positive = intensity[intensity > 8]
    scale = max(16.0, float(np.median(positive))) if positive.size else 16.0
    intensity = intensity / scale
    return _rgb(intensity * 127.0)


def _scribble_xdog(image: Image.Image, res: int, a: float, b: float) -> Image.Image:
    """XDoG scribble: difference of Gaussians (0.5 and 5.0) thresholded at `a` (default 32)."""
    img = resize_short_side(image, res).convert("RGB")
    g1 = np.asarray(img.filter(ImageFilter.GaussianBlur(0.5)), dtype=np.float32)
    g2 = np.asarray(img.filter(ImageFilter.GaussianBlur(5.0)), dtype=np.float32)
    dog = np.min(g2 - g1, axis=2).clip(0, 255)
    threshold = a if a > 0 else 32.0
    return _rgb(np.where(dog > threshold, 255.0, 0.0))


def _shuffle(image: Image.Image, res: int, a: float, b: float) -> Image.Image:
    """Content shuffle: pixels moved along a smooth random flow (seeded by the image size)."""
    img = np.asarray(resize_short_side(image, res).convert("RGB"))
    h, w = img.shape[:2]
    rng = np.random.default_rng(h * 10007 + w)
    coarse = rng.random((2, max(2, h // 64), max(2, w // 64))).astype(np.float32)
    flow = [np.asarray(Image.fromarray(c).resize((w, h), Image.Resampling.BICUBIC)) for c in coarse]
    ys = np.clip((flow[0] * h).astype(int), 0, h - 1)
    xs = np.clip((flow[1] * w).astype(int), 0, w - 1)
    return Image.fromarray(img[ys, xs])


BUILT_IN = (
    Preprocessor("none", _none),
    Preprocessor(
        "canny", _canny, ("Canny Low Threshold", 100, 1, 255), ("Canny High Threshold", 200, 1, 255)
    ),
    Preprocessor("invert", _invert),
    Preprocessor("threshold", _threshold, ("Binary Threshold", 0, 0, 255)),
    Preprocessor("tile_resample", _tile, ("Down Sampling Rate", 1.0, 1.0, 8.0)),
    Preprocessor("lineart_standard", _lineart_standard),
    Preprocessor("scribble_xdog", _scribble_xdog, ("XDoG Threshold", 32, 1, 64)),
    Preprocessor("shuffle", _shuffle),
)
BODY = "openpose/body_pose_model.pth"
HAND = ("openpose/hand_pose_model.pth", "openpose_hand")
FACE = ("openpose/facenet.pth", "openpose_face")
# Model-based preprocessors: run by their annotator network when its weights are present
# (studio.controlnet.annotators); the others are listed and refused, naming the file expected.
NEEDS_WEIGHTS = (
    Preprocessor("lineart_realistic", None, weights="lineart/sk_model.pth", network="lineart"),
    Preprocessor("lineart_coarse", None, weights="lineart/sk_model2.pth", network="lineart"),
    Preprocessor("lineart_anime", None, weights="lineart_anime/netG.pth", network="lineart_anime"),
    Preprocessor("softedge_hed", None, weights="hed/ControlNetHED.pth", network="hed"),
    Preprocessor("softedge_hedsafe", None, weights="hed/ControlNetHED.pth", network="hed", variant="safe"),
    Preprocessor("scribble_hed", None, weights="hed/ControlNetHED.pth", network="hed", variant="scribble"),
    Preprocessor("depth_midas", None, weights="midas/dpt_hybrid-midas-501f0c75.pt", network="midas"),
    Preprocessor(
        "normal_midas",
        None,
        ("Normal Background Threshold", 0.4, 0.0, 1.0),
        weights="midas/dpt_hybrid-midas-501f0c75.pt",
        network="midas",
        variant="normal",
    ),
    Preprocessor("depth_zoe", None, weights="zoedepth/ZoeD_M12_N.pt"),
    Preprocessor(
        "depth_anything", None, weights="depth_anything/depth_anything_vitl14.pth", network="depth_anything"
    ),
    Preprocessor("openpose", None, weights=BODY, network="openpose"),
    Preprocessor("openpose_hand", None, weights=BODY, network="openpose", extras=(HAND,)),
    Preprocessor("openpose_face", None, weights=BODY, network="openpose", extras=(FACE,)),
    Preprocessor(
        "openpose_faceonly", None, weights=BODY, network="openpose", variant="faceonly", extras=(FACE,)
    ),
    Preprocessor("openpose_full", None, weights=BODY, network="openpose", extras=(HAND, FACE)),
    Preprocessor("normal_bae", None, weights="normal_bae/scannet.pt"),
    Preprocessor(
        "mlsd",
        None,
        ("MLSD Value Threshold", 0.1, 0.01, 2.0),
        ("MLSD Distance Threshold", 0.1, 0.01, 20.0),
        weights="mlsd/mlsd_large_512_fp32.pth",
        network="mlsd",
    ),
    Preprocessor("softedge_pidinet", None, weights="pidinet/table5_pidinet.pth", network="pidinet"),
    Preprocessor(
        "scribble_pidinet", None, weights="pidinet/table5_pidinet.pth", network="pidinet", variant="scribble"
    ),
    Preprocessor(
        "softedge_pidisafe", None, weights="pidinet/table5_pidinet.pth", network="pidinet", variant="safe"
    ),
    Preprocessor("seg_ofade20k", None, weights="oneformer/250_16_swin_l_oneformer_ade20k_160k.pth"),
)
ALIASES = {
    "binary": "threshold",
    "tile": "tile_resample",
    "lineart": "lineart_standard",
    "blur": "tile_resample",
}


def module_names() -> list[str]:
    return [p.name for p in (*BUILT_IN, *NEEDS_WEIGHTS)]


def accepted_names() -> list[str]:
    return [*module_names(), *ALIASES]


def find(name: str, field_name: str = "module") -> Preprocessor:
    name = ALIASES.get(name, name)
    for preprocessor in (*BUILT_IN, *NEEDS_WEIGHTS):
        if preprocessor.name == name:
            return preprocessor
    raise RequestError(field_name, f"unknown preprocessor {name!r}; known: {', '.join(module_names())}")


def check_available(
    name: str, annotators_dir: Any, allow_pickle: bool = False, field_name: str = "module"
) -> Preprocessor:
    """The preprocessor, if it can run here; RequestError naming the field and, for a model-based
    one, the weight file expected and where."""
    preprocessor = find(name, field_name)
    if preprocessor.run is not None:
        return preprocessor
    from studio.controlnet.annotators import missing_message, weight_file

    assert preprocessor.weights is not None
    if preprocessor.network is None:
        expected = f"{annotators_dir}/{preprocessor.weights}"
        raise RequestError(
            field_name,
            f"preprocessor {name!r} needs the annotator weights {preprocessor.weights} "
            f"(expected at {expected}); Atelier cannot run this one yet even with them, so send an "
            "already-processed control image with module 'none'",
        )
    for relative in (preprocessor.weights, *(file for file, _ in preprocessor.extras)):
        if weight_file(annotators_dir, relative, allow_pickle) is None:
            raise RequestError(
                field_name, missing_message(preprocessor.name, annotators_dir, relative, allow_pickle)
            )
    return preprocessor


def run(
    name: str,
    image: Image.Image,
    resolution: int,
    threshold_a: float,
    threshold_b: float,
    annotators_dir: Any,
    field_name: str = "module",
    *,
    allow_pickle: bool = False,
) -> Image.Image:
    """The control image `name` makes of `image`; RequestError when it needs absent weights."""
    preprocessor = check_available(name, annotators_dir, allow_pickle, field_name)
    a = threshold_a if threshold_a >= 0 else (preprocessor.threshold_a or ("", 0, 0, 0))[1]
    b = threshold_b if threshold_b >= 0 else (preprocessor.threshold_b or ("", 0, 0, 0))[1]
    if preprocessor.run is None:
        from studio.controlnet import annotators

        assert preprocessor.network is not None and preprocessor.weights is not None
        path = annotators.weight_file(annotators_dir, preprocessor.weights, allow_pickle)
        assert path is not None
        network = annotators.load_network(preprocessor.network, path, field_name)
        extras = {}
        for relative, kind in preprocessor.extras:
            extra_path = annotators.weight_file(annotators_dir, relative, allow_pickle)
            assert extra_path is not None
            extras[kind] = annotators.load_network(kind, extra_path, field_name)
        source = resize_short_side(image.convert("RGB"), resolution)
        return annotators.run_network(
            preprocessor.network, network, source, preprocessor.variant, float(a), float(b), extras
        )
    return preprocessor.run(image.convert("RGB"), resolution, float(a), float(b))


def slider_info() -> dict[str, Any]:
    """/controlnet/module_list's `module_detail`, as the extension describes its sliders."""
    detail: dict[str, Any] = {}
    for p in (*BUILT_IN, *NEEDS_WEIGHTS):
        sliders: list[Any] = [{"name": "Preprocessor Resolution", "value": 512, "min": 64, "max": 2048}]
        for spec in (p.threshold_a, p.threshold_b):
            if spec is not None:
                sliders.append({"name": spec[0], "value": spec[1], "min": spec[2], "max": spec[3]})
        detail[p.name] = {"model_free": p.run is not None, "sliders": sliders}
    return detail


def pixel_perfect_resolution(image: Image.Image, width: int, height: int, resize_mode: str) -> int:
    """The preprocessor resolution that lands the control map on the target size (the extension's rule)."""
    k_height, k_width = height / image.height, width / image.width
    short = min(image.width, image.height)
    scale = min(k_height, k_width) if resize_mode == "Resize and Fill" else max(k_height, k_width)
    return round(scale * short)


def fit_to_size(image: Image.Image, width: int, height: int, resize_mode: str) -> Image.Image:
    """The control map at the generation size: stretched (Just Resize), cropped to fill (Crop and
    Resize) or fitted inside and padded with black (Resize and Fill)."""
    image = image.convert("RGB")
    if resize_mode == "Just Resize":
        return image.resize((width, height), Image.Resampling.LANCZOS)
    scale_w, scale_h = width / image.width, height / image.height
    if resize_mode == "Crop and Resize":
        scale = max(scale_w, scale_h)
        size = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
        resized = image.resize(size, Image.Resampling.LANCZOS)
        left, top = (size[0] - width) // 2, (size[1] - height) // 2
        return resized.crop((left, top, left + width, top + height))
    scale = min(scale_w, scale_h)
    size = (min(width, max(1, round(image.width * scale))), min(height, max(1, round(image.height * scale))))
    canvas = Image.new("RGB", (width, height), (0, 0, 0))
    canvas.paste(
        image.resize(size, Image.Resampling.LANCZOS), ((width - size[0]) // 2, (height - size[1]) // 2)
    )
    return canvas
