"""Model-based ControlNet preprocessors ("annotators"): the networks sd-webui-controlnet runs,
written here in plain torch with the same module layout, so the extension's weight files load
as they are (strict: every key and shape must match).

- lineart (`lineart/sk_model.pth`, coarse: `lineart/sk_model2.pth`): the "informative drawings"
  ResNet generator (3 residual blocks); the control map is the inverted line drawing.
- anime lineart (`lineart_anime/netG.pth`): pix2pix's 8-level U-Net generator; the image is
  resized up to multiples of 256 for it, and the map is the inverted drawing.
- HED soft edges (`hed/ControlNetHED.pth`): lllyasviel's Apache-2 HED (five VGG-like blocks,
  one side output each); the map is the sigmoid of their mean. `softedge_hedsafe` quantises it
  and blurs it as the extension does.
- further networks in their own modules: `openpose` (+ `openpose_parts`: hands, faces), `mlsd`,
  `pidinet`, `depth` (MiDaS DPT-Hybrid and Depth Anything on transformers' architectures).
  `BUILDERS` makes each from the file's state, `KEY_ADAPTERS` maps a file's names where the
  extension maps them too (or the original repository's names onto transformers'), and
  `run_network` turns the network's output into the control map.

Files live under `models/ControlNet/annotators/` (the extension's `annotator/downloads` layout).
A `.safetensors` file of the same stem is read in place of the `.pth`; pickle files are read
only with `allow_pickle` (`torch.load(weights_only=True)`). Torch is imported only when an
annotator runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from studio.request import RequestError


def weight_file(annotators_dir: Path, relative: str, allow_pickle: bool) -> Path | None:
    """The annotator's file: its `.safetensors` twin first, then the `.pth` when pickle is allowed."""
    path = Path(annotators_dir) / relative
    twin = path.with_suffix(".safetensors")
    if twin.is_file():
        return twin
    if path.is_file() and allow_pickle:
        return path
    return None


def missing_message(name: str, annotators_dir: Path, relative: str, allow_pickle: bool) -> str:
    path = Path(annotators_dir) / relative
    if path.is_file() and not allow_pickle:
        return (
            f"preprocessor {name!r}: {path} is a pickle file; start the studio with --allow-pickle "
            f"to read it, or convert it to {path.with_suffix('.safetensors').name}"
        )
    return (
        f"preprocessor {name!r} needs the annotator weights {relative} (expected at {path}, or "
        f"{path.with_suffix('.safetensors').name} beside it); sd-webui-controlnet's file works as it is"
    )


def _read_state(path: Path) -> dict[str, Any]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    import torch

    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    return {key.removeprefix("module."): value for key, value in state.items()}


def lineart_network(residual_blocks: int = 3) -> Any:
    """The informative-drawings generator sd-webui-controlnet's lineart uses (Generator(3, 1, 3))."""
    from torch import nn

    class ResidualBlock(nn.Module):
        def __init__(self, features: int) -> None:
            super().__init__()
            self.conv_block = nn.Sequential(
                nn.ReflectionPad2d(1),
                nn.Conv2d(features, features, 3),
                nn.InstanceNorm2d(features),
                nn.ReLU(inplace=True),
                nn.ReflectionPad2d(1),
                nn.Conv2d(features, features, 3),
                nn.InstanceNorm2d(features),
            )

        def forward(self, x: Any) -> Any:
            return x + self.conv_block(x)

    class Generator(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model0 = nn.Sequential(
                nn.ReflectionPad2d(3), nn.Conv2d(3, 64, 7), nn.InstanceNorm2d(64), nn.ReLU(inplace=True)
            )
            self.model1 = nn.Sequential(
                nn.Conv2d(64, 128, 3, stride=2, padding=1),
                nn.InstanceNorm2d(128),
                nn.ReLU(inplace=True),
                nn.Conv2d(128, 256, 3, stride=2, padding=1),
                nn.InstanceNorm2d(256),
                nn.ReLU(inplace=True),
            )
            self.model2 = nn.Sequential(*[ResidualBlock(256) for _ in range(residual_blocks)])
            self.model3 = nn.Sequential(
                nn.ConvTranspose2d(256, 128, 3, stride=2, padding=1, output_padding=1),
                nn.InstanceNorm2d(128),
                nn.ReLU(inplace=True),
                nn.ConvTranspose2d(128, 64, 3, stride=2, padding=1, output_padding=1),
                nn.InstanceNorm2d(64),
                nn.ReLU(inplace=True),
            )
            self.model4 = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(64, 1, 7), nn.Sigmoid())

        def forward(self, x: Any) -> Any:
            return self.model4(self.model3(self.model2(self.model1(self.model0(x)))))

    return Generator()


def hed_network() -> Any:
    """lllyasviel's ControlNetHED_Apache2."""
    import torch
    from torch import nn

    class DoubleConvBlock(nn.Module):
        def __init__(self, channels_in: int, channels_out: int, layers: int) -> None:
            super().__init__()
            self.convs = nn.Sequential(
                nn.Conv2d(channels_in, channels_out, 3, padding=1),
                *[nn.Conv2d(channels_out, channels_out, 3, padding=1) for _ in range(1, layers)],
            )
            self.projection = nn.Conv2d(channels_out, 1, 1)

        def forward(self, x: Any, down_sampling: bool = False) -> tuple[Any, Any]:
            h = nn.functional.max_pool2d(x, kernel_size=2, stride=2) if down_sampling else x
            for conv in self.convs:
                h = nn.functional.relu(conv(h))
            return h, self.projection(h)

    class ControlNetHED(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.Parameter(torch.zeros(1, 3, 1, 1))
            self.block1 = DoubleConvBlock(3, 64, 2)
            self.block2 = DoubleConvBlock(64, 128, 2)
            self.block3 = DoubleConvBlock(128, 256, 3)
            self.block4 = DoubleConvBlock(256, 512, 3)
            self.block5 = DoubleConvBlock(512, 512, 3)

        def forward(self, x: Any) -> list[Any]:
            h, p1 = self.block1(x - self.norm)
            h, p2 = self.block2(h, down_sampling=True)
            h, p3 = self.block3(h, down_sampling=True)
            h, p4 = self.block4(h, down_sampling=True)
            _, p5 = self.block5(h, down_sampling=True)
            return [p1, p2, p3, p4, p5]

    return ControlNetHED()


def anime_lineart_network() -> Any:
    """pix2pix's UnetGenerator(3, 1, 8, 64) with affine-free instance norm: lineart_anime's netG."""
    import torch
    from torch import nn

    def norm(channels: int) -> Any:
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)

    class SkipBlock(nn.Module):
        def __init__(
            self, outer: int, inner: int, sub: Any = None, *, inputs: int | None = None, edge: str = ""
        ) -> None:
            super().__init__()
            self.outermost = edge == "outer"
            down = nn.Conv2d(inputs or outer, inner, kernel_size=4, stride=2, padding=1, bias=True)
            if edge == "outer":
                up = nn.ConvTranspose2d(inner * 2, outer, kernel_size=4, stride=2, padding=1)
                layers = [down, sub, nn.ReLU(True), up, nn.Tanh()]
            elif edge == "inner":
                up = nn.ConvTranspose2d(inner, outer, kernel_size=4, stride=2, padding=1, bias=True)
                layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, norm(outer)]
            else:
                up = nn.ConvTranspose2d(inner * 2, outer, kernel_size=4, stride=2, padding=1, bias=True)
                layers = [nn.LeakyReLU(0.2, True), down, norm(inner), sub, nn.ReLU(True), up, norm(outer)]
            self.model = nn.Sequential(*layers)

        def forward(self, x: Any) -> Any:
            return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)

    class UnetGenerator(nn.Module):
        def __init__(self, downs: int = 8, ngf: int = 64) -> None:
            super().__init__()
            block = SkipBlock(ngf * 8, ngf * 8, edge="inner")
            for _ in range(downs - 5):
                block = SkipBlock(ngf * 8, ngf * 8, block)
            block = SkipBlock(ngf * 4, ngf * 8, block)
            block = SkipBlock(ngf * 2, ngf * 4, block)
            block = SkipBlock(ngf, ngf * 2, block)
            self.model = SkipBlock(1, ngf, block, inputs=3, edge="outer")

        def forward(self, x: Any) -> Any:
            return self.model(x)

    return UnetGenerator()


def _openpose(state: dict[str, Any]) -> Any:
    from studio.controlnet import openpose

    return openpose.body_network()


def _mlsd(state: dict[str, Any]) -> Any:
    from studio.controlnet import mlsd

    return mlsd.mlsd_network()


def _pidinet(state: dict[str, Any]) -> Any:
    from studio.controlnet import pidinet

    return pidinet.pidinet_network()


def _parts() -> Any:
    from studio.controlnet import openpose_parts

    return openpose_parts


def _depth() -> Any:
    from studio.controlnet import depth

    return depth


BUILDERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "lineart_anime": lambda state: anime_lineart_network(),
    "lineart": lambda state: lineart_network(
        len({key.split(".")[1] for key in state if key.startswith("model2.")})
    ),
    "hed": lambda state: hed_network(),
    "openpose": _openpose,
    "openpose_hand": lambda state: _parts().hand_network(),
    "openpose_face": lambda state: _parts().face_network(),
    "mlsd": _mlsd,
    "pidinet": _pidinet,
    "depth_anything": lambda state: _depth().depth_anything_network(state),
    "midas": lambda state: _depth().midas_network(state),
}


def _openpose_keys(state: dict[str, Any], network: Any) -> dict[str, Any]:
    from studio.controlnet import openpose

    return openpose.file_state_to_network(state, network)


# the file's layer names onto the network's, where the extension maps them on loading too
def _pidinet_keys(state: dict[str, Any], network: Any) -> dict[str, Any]:
    from studio.controlnet import pidinet

    return pidinet.file_state_to_network(state)


KEY_ADAPTERS: dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]] = {
    "openpose": _openpose_keys,
    "openpose_hand": lambda state, network: _parts().hand_file_state(state, network),
    "pidinet": _pidinet_keys,
    "depth_anything": lambda state, network: _depth().depth_anything_state(state),
    "midas": lambda state, network: _depth().midas_state(state),
}


def load_network(kind: str, path: Path, field_name: str) -> Any:
    """The annotator network of `kind` with the file's weights (read on each use: the files are
    small, and nothing is kept between requests)."""
    try:
        state = _read_state(path)
        network = BUILDERS[kind](state)
        if kind in KEY_ADAPTERS:
            state = KEY_ADAPTERS[kind](state, network)
        network.load_state_dict(state, strict=True)
    except Exception as error:  # another network's file, or a damaged one
        raise RequestError(field_name, f"{path.name} is not a {kind} annotator ({error})") from error
    return network.eval()


def run_network(
    kind: str,
    network: Any,
    image: Any,
    variant: str,
    a: float,
    b: float,
    extras: dict[str, Any] | None = None,
) -> Any:
    """The control map the annotator network of `kind` makes of `image` (already at processor
    resolution); `a` and `b` are the unit's thresholds (its defaults when -1); `extras` the
    preprocessor's further networks by kind (openpose's hand and face)."""
    extras = extras or {}
    if kind == "lineart":
        return run_lineart(network, image)
    if kind == "lineart_anime":
        return run_anime_lineart(network, image)
    if kind == "hed":
        edges = run_hed(network, image, safe=variant == "safe")
        return scribble(edges) if variant == "scribble" else edges
    if kind == "openpose":
        from studio.controlnet.openpose import run_openpose

        return run_openpose(
            network,
            image,
            hand=extras.get("openpose_hand"),
            face=extras.get("openpose_face"),
            draw_bodies=variant != "faceonly",
        )
    if kind == "mlsd":
        from studio.controlnet.mlsd import run_mlsd

        return run_mlsd(network, image, a, b)
    if kind == "pidinet":
        from studio.controlnet.pidinet import run_pidinet

        edges = run_pidinet(network, image, safe=variant == "safe")
        return scribble(edges) if variant == "scribble" else edges
    if kind == "depth_anything":
        return _depth().run_depth_anything(network, image)
    if kind == "midas":
        return _depth().run_midas(network, image, a if variant == "normal" else None)
    raise ValueError(f"no runner for annotator {kind!r}")


def scribble(edges: Any) -> Any:
    """The extension's scribble_hed / scribble_pidinet from a soft-edge map: non-maximum
    suppression (Gaussian sigma 3, kept where no 3-pixel line through it in 4 directions is
    higher, then > 127), blurred again (sigma 3), and every pixel over 4 made white."""
    import cv2
    import numpy as np
    from PIL import Image

    soft = cv2.GaussianBlur(np.asarray(edges.convert("L")).astype(np.float32), (0, 0), 3.0)
    kept = np.zeros_like(soft)
    lines = (
        [[0, 0, 0], [1, 1, 1], [0, 0, 0]], [[0, 1, 0], [0, 1, 0], [0, 1, 0]],
        [[1, 0, 0], [0, 1, 0], [0, 0, 1]], [[0, 0, 1], [0, 1, 0], [1, 0, 0]],
    )  # fmt: skip
    for line in lines:
        np.putmask(kept, cv2.dilate(soft, kernel=np.array(line, dtype=np.uint8)) == soft, soft)
    thin = np.where(kept > 127, 255, 0).astype(np.uint8)
    blurred = cv2.GaussianBlur(thin, (0, 0), 3.0)
    return Image.fromarray(np.where(blurred > 4, 255, 0).astype(np.uint8)).convert("RGB")


def run_lineart(network: Any, image: Any) -> Any:
    """White lines on black, as sd-webui-controlnet's lineart gives them (255 - the drawing)."""
    import numpy as np
    import torch
    from PIL import Image

    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    with torch.no_grad():
        line = network(torch.from_numpy(array).permute(2, 0, 1)[None])[0, 0].numpy()
    drawing = (line * 255.0).clip(0, 255).astype(np.uint8)
    return Image.fromarray(255 - drawing).convert("RGB")


def run_anime_lineart(network: Any, image: Any) -> Any:
    """lineart_anime: the image resized up to multiples of 256, through the U-Net ([-1, 1] in and
    out), back to its size, inverted (white lines on black)."""
    import math

    import numpy as np
    import torch
    from PIL import Image

    source = image.convert("RGB")
    width, height = source.size
    padded = source.resize(
        (256 * math.ceil(width / 256), 256 * math.ceil(height / 256)), Image.Resampling.BICUBIC
    )
    array = np.asarray(padded, dtype=np.float32) / 127.5 - 1.0
    with torch.no_grad():
        line = network(torch.from_numpy(array).permute(2, 0, 1)[None])[0, 0].numpy() * 127.5 + 127.5
    drawing = Image.fromarray(line.clip(0, 255).astype(np.uint8)).resize(
        (width, height), Image.Resampling.BICUBIC
    )
    return Image.fromarray(255 - np.asarray(drawing)).convert("RGB")


def run_hed(network: Any, image: Any, safe: bool = False) -> Any:
    """HED soft edges: the five side outputs at full size, the sigmoid of their mean."""
    import numpy as np
    import torch
    from PIL import Image

    array = np.asarray(image.convert("RGB"), dtype=np.float32)
    height, width = array.shape[:2]
    with torch.no_grad():
        sides = network(torch.from_numpy(array).permute(2, 0, 1)[None])
        sides = [
            torch.nn.functional.interpolate(side, size=(height, width), mode="bilinear", align_corners=False)
            for side in sides
        ]
        edge = torch.sigmoid(torch.cat(sides, dim=1).mean(dim=1))[0].numpy()
    if safe:  # the extension's safe_step(edge, step=2): three bands
        edge = (edge * 3.0).astype(np.int32).astype(np.float32) / 2.0
    return Image.fromarray((edge * 255.0).clip(0, 255).astype(np.uint8)).convert("RGB")
