"""OpenPose hands and faces (`openpose_hand`, `openpose_face`, `openpose_faceonly`,
`openpose_full`): the extension's hand network (`openpose/hand_pose_model.pth`, 21 keypoints) and
face network (`openpose/facenet.pth`, 70 keypoints), run on boxes found from the body's joints
(the extension's handDetect / faceDetect), their peaks taken as the extension takes them, drawn
as it draws them (hand bones in a hue wheel with red joints, face points as white dots).
"""

from __future__ import annotations

import colorsys
import math
from collections import OrderedDict
from typing import Any

import numpy as np

HAND_EDGES = (
    (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10),
    (10, 11), (11, 12), (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20),
)  # fmt: skip
HAND_SCALES = (0.5, 1.0, 1.5, 2.0)
PEAK_THRESHOLD = 0.05


def _vgg_stem(conv5_out: int) -> list[tuple[str, tuple[int, ...]]]:
    return [
        ("conv1_1", (3, 64, 3, 1, 1)), ("conv1_2", (64, 64, 3, 1, 1)), ("pool1_stage1", (2, 2, 0)),
        ("conv2_1", (64, 128, 3, 1, 1)), ("conv2_2", (128, 128, 3, 1, 1)), ("pool2_stage1", (2, 2, 0)),
        ("conv3_1", (128, 256, 3, 1, 1)), ("conv3_2", (256, 256, 3, 1, 1)), ("conv3_3", (256, 256, 3, 1, 1)),
        ("conv3_4", (256, 256, 3, 1, 1)), ("pool3_stage1", (2, 2, 0)), ("conv4_1", (256, 512, 3, 1, 1)),
        ("conv4_2", (512, 512, 3, 1, 1)), ("conv4_3", (512, 512, 3, 1, 1)), ("conv4_4", (512, 512, 3, 1, 1)),
        ("conv5_1", (512, 512, 3, 1, 1)), ("conv5_2", (512, 512, 3, 1, 1)), ("conv5_3_CPM", (512, conv5_out, 3, 1, 1)),
    ]  # fmt: skip


def _stage(index: int, inputs: int, outputs: int) -> list[tuple[str, tuple[int, ...]]]:
    spec = [(f"Mconv1_stage{index}", (inputs, 128, 7, 1, 3))]
    spec += [(f"Mconv{i}_stage{index}", (128, 128, 7, 1, 3)) for i in range(2, 6)]
    return [
        *spec,
        (f"Mconv6_stage{index}", (128, 128, 1, 1, 0)),
        (f"Mconv7_stage{index}", (128, outputs, 1, 1, 0)),
    ]


def conv_layers(spec: list[tuple[str, tuple[int, ...]]], no_relu: set[str]) -> Any:
    from torch import nn

    modules: list[tuple[str, Any]] = []
    for name, v in spec:
        if "pool" in name:
            modules.append((name, nn.MaxPool2d(kernel_size=v[0], stride=v[1], padding=v[2])))
            continue
        modules.append((name, nn.Conv2d(v[0], v[1], kernel_size=v[2], stride=v[3], padding=v[4])))
        if name not in no_relu:
            modules.append((f"relu_{name}", nn.ReLU(inplace=True)))
    return nn.Sequential(OrderedDict(modules))


def hand_network() -> Any:
    """The extension's `handpose_model`: VGG stem, then six stages of 22 heatmaps (21 + background)."""
    import torch
    from torch import nn

    no_relu = {"conv6_2_CPM", *(f"Mconv7_stage{i}" for i in range(2, 7))}

    class HandPoseModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model1_0 = conv_layers(_vgg_stem(128), no_relu)
            self.model1_1 = conv_layers(
                [("conv6_1_CPM", (128, 512, 1, 1, 0)), ("conv6_2_CPM", (512, 22, 1, 1, 0))], no_relu
            )
            for stage in range(2, 7):
                setattr(self, f"model{stage}", conv_layers(_stage(stage, 150, 22), no_relu))

        def forward(self, x: Any) -> Any:
            features = self.model1_0(x)
            out = self.model1_1(features)
            for stage in range(2, 7):
                out = getattr(self, f"model{stage}")(torch.cat([out, features], 1))
            return out

    return HandPoseModel()


def face_network() -> Any:
    """The extension's `FaceNet`: VGG stem, then six stages of 71 heatmaps (70 + background)."""
    import torch
    from torch import nn

    class FaceNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for name, v in _vgg_stem(128):
                if "pool" not in name:
                    setattr(self, name, nn.Conv2d(v[0], v[1], kernel_size=v[2], stride=v[3], padding=v[4]))
            self.conv6_1_CPM = nn.Conv2d(128, 512, kernel_size=1, stride=1, padding=0)
            self.conv6_2_CPM = nn.Conv2d(512, 71, kernel_size=1, stride=1, padding=0)
            for stage in range(2, 7):
                for name, v in _stage(stage, 199, 71):
                    setattr(self, name, nn.Conv2d(v[0], v[1], kernel_size=v[2], stride=v[3], padding=v[4]))

        def forward(self, x: Any) -> list[Any]:
            relu, pool = nn.functional.relu, nn.functional.max_pool2d
            h = x
            for name, _ in _vgg_stem(128):
                h = pool(h, 2, 2) if "pool" in name else relu(getattr(self, name)(h))
            features = h
            h = self.conv6_2_CPM(relu(self.conv6_1_CPM(h)))
            heatmaps = [h]
            for stage in range(2, 7):
                h = torch.cat([h, features], dim=1)
                for i in range(1, 7):
                    h = relu(getattr(self, f"Mconv{i}_stage{stage}")(h))
                h = getattr(self, f"Mconv7_stage{stage}")(h)
                heatmaps.append(h)
            return heatmaps

    return FaceNet()


def hand_file_state(state: dict[str, Any], network: Any) -> dict[str, Any]:
    """hand_pose_model.pth holds the layer names without their block (`conv1_1.weight`), as the
    body file does; the extension maps them on with `util.transfer`."""
    by_suffix = {name.split(".", 1)[1]: name for name in network.state_dict()}
    return {by_suffix.get(key, key): value for key, value in state.items()}


def hand_boxes(
    candidate: np.ndarray, person: np.ndarray, width: int, height: int
) -> list[tuple[int, int, int, bool]]:
    """The extension's handDetect for one person (a subset row): a square past each wrist along
    the forearm, sized from the forearm and upper arm, clipped to the image; (x, y, side,
    is_left), left first, sides under 20 px dropped."""
    row = person.astype(int)
    arms = []
    if (row[[5, 6, 7]] != -1).all():
        arms.append((*(candidate[row[i]][:2] for i in (5, 6, 7)), True))
    if (row[[2, 3, 4]] != -1).all():
        arms.append((*(candidate[row[i]][:2] for i in (2, 3, 4)), False))
    boxes = []
    for (x1, y1), (x2, y2), (x3, y3), is_left in arms:
        x, y = x3 + 0.33 * (x3 - x2), y3 + 0.33 * (y3 - y2)
        wrist_elbow = math.hypot(x3 - x2, y3 - y2)
        elbow_shoulder = math.hypot(x2 - x1, y2 - y1)
        side = 1.5 * max(wrist_elbow, 0.9 * elbow_shoulder)
        x, y = max(0.0, x - side / 2), max(0.0, y - side / 2)
        side = min(width - x if x + side > width else side, height - y if y + side > height else side)
        if side >= 20:
            boxes.append((int(x), int(y), int(side), is_left))
    return boxes


def face_boxes(
    candidate: np.ndarray, person: np.ndarray, width: int, height: int
) -> list[tuple[int, int, int]]:
    """The extension's faceDetect for one person: a square around the nose sized from the eyes
    (x3) and ears (x1.5); empty when it is under 20 px."""
    row = person.astype(int)
    if row[0] < 0 or (row[[14, 15, 16, 17]] < 0).all():
        return []
    x0, y0 = candidate[row[0]][:2]
    side = 0.0
    for joint, factor in ((14, 3.0), (15, 3.0), (16, 1.5), (17, 1.5)):
        if row[joint] > -1:
            x1, y1 = candidate[row[joint]][:2]
            side = max(side, max(abs(x0 - x1), abs(y0 - y1)) * factor)
    x, y = max(0.0, x0 - side), max(0.0, y0 - side)
    full = side * 2  # the extension compares the half side with the image's edge, as here
    side = min(width - x if x + side > width else full, height - y if y + side > height else full)
    return [(int(x), int(y), int(side))] if side >= 20 else []


def strongest_blob_peak(heatmap: np.ndarray, region: np.ndarray | None = None) -> tuple[int, int] | None:
    """(x, y) of the heatmap's maximum inside the connected region (8-neighbours) of `region`
    (the heatmap itself unless given) over the threshold with the largest summed heatmap;
    None when nothing passes the threshold."""
    import cv2

    binary = np.ascontiguousarray((heatmap if region is None else region) > PEAK_THRESHOLD, dtype=np.uint8)
    if not binary.any():
        return None
    count, labels = cv2.connectedComponents(binary, connectivity=8)
    strongest = 1 + int(np.argmax([heatmap[labels == i].sum() for i in range(1, count)]))
    kept = np.where(labels == strongest, heatmap, 0)
    y, x = np.unravel_index(int(np.argmax(kept)), kept.shape)
    return int(x), int(y)


def hand_peaks(network: Any, crop: np.ndarray) -> list[tuple[int, int] | None]:
    """The extension's Hand(): the BGR crop at four scales of 368 px, heatmaps averaged on a 128
    grid, one peak per keypoint (21), in the crop's pixels."""
    import cv2
    import torch

    from studio.controlnet.openpose import smart_resize

    height, width = crop.shape[:2]
    blurred = cv2.GaussianBlur(crop, (0, 0), 0.8)
    average = np.zeros((128, 128, 22))
    for scale in HAND_SCALES:
        size = int(scale * 368)
        image = smart_resize(blurred, size, size).astype(np.float32)
        pad = -size % 8
        padded = np.pad(image, ((0, pad), (0, pad), (0, 0)), constant_values=128.0)
        tensor = torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1)[None] / 256.0 - 0.5)).float()
        with torch.no_grad():
            maps = network(tensor)[0].numpy().transpose(1, 2, 0)
        maps = smart_resize(maps, maps.shape[1] * 8, maps.shape[0] * 8)[:size, :size]
        average += smart_resize(maps, 128, 128) / len(HAND_SCALES)
    peaks: list[tuple[int, int] | None] = []
    for part in range(21):  # the region from the blurred map (sigma 3), the peak from the raw one
        raw = average[:, :, part]
        smooth = cv2.GaussianBlur(raw, (25, 25), 3.0, borderType=cv2.BORDER_REFLECT)
        peak = strongest_blob_peak(raw, smooth)
        placed = None if peak is None else (int(peak[0] * width / 128), int(peak[1] * height / 128))
        peaks.append(None if placed is None or min(placed) <= 0 else placed)  # 0 counts as not found there
    return peaks


def face_peaks(network: Any, crop: np.ndarray) -> list[tuple[int, int]]:
    """The extension's Face(): the BGR crop at 384 px, the last stage's 71 heatmaps back at the
    crop's size (bilinear, corners aligned), per map its highest point when it passes 0.05; a
    point on the crop's top row or left column counts as not found, as there."""
    import torch

    from studio.controlnet.openpose import smart_resize

    height, width = crop.shape[:2]
    image = smart_resize(crop, 384, 384).astype(np.float32)
    tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)[None] / 256.0 - 0.5)).float()
    with torch.no_grad():
        heatmaps = network(tensor)[-1]
        heatmaps = torch.nn.functional.interpolate(
            heatmaps, (height, width), mode="bilinear", align_corners=True
        )
    peaks = []
    for heatmap in heatmaps[0].numpy():
        if (heatmap > PEAK_THRESHOLD).any():
            y, x = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
            if x > 0 and y > 0:
                peaks.append((int(x), int(y)))
    return peaks


def draw_hand(canvas: np.ndarray, peaks: list[tuple[int, int] | None]) -> np.ndarray:
    """The extension's draw_handpose: bones 2 px in a hue wheel, joints as radius-4 discs in
    (0, 0, 255); points at the image's edge (0) are not drawn."""
    import cv2

    for index, (a, b) in enumerate(HAND_EDGES):
        first, second = peaks[a], peaks[b]
        if first is None or second is None or min(*first, *second) <= 0:
            continue
        colour = [int(c * 255) for c in colorsys.hsv_to_rgb(index / len(HAND_EDGES), 1.0, 1.0)]
        cv2.line(canvas, first, second, colour, thickness=2)
    for peak in peaks:
        if peak is not None and min(peak) > 0:
            cv2.circle(canvas, peak, 4, (0, 0, 255), thickness=-1)
    return canvas


def draw_face(canvas: np.ndarray, peaks: list[tuple[int, int]]) -> np.ndarray:
    """The extension's draw_facepose: white radius-3 dots."""
    import cv2

    for peak in peaks:
        cv2.circle(canvas, peak, 3, (255, 255, 255), thickness=-1)
    return canvas
