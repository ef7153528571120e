"""OpenPose body (the `openpose` preprocessor): the CMU body-pose CNN sd-webui-controlnet runs
(`openpose/body_pose_model.pth`), its part-affinity-field decoding into skeletons, and the
skeleton drawn as the extension draws it (coloured ellipse limbs at 60%, round joints).

The network's module layout is the extension's `bodypose_model` (model0 = VGG stem, model1_1 ...
model6_2 = the six two-branch stages); its file holds the layer names without the block prefix
(`conv1_1.weight`, `Mconv7_stage6_L2.bias`), which the extension maps on with `util.transfer`,
and so does `file_state_to_network` here. Decoding follows the extension's `Body.__call__`
(one scale, box size 368, stride 8, peak threshold 0.1, PAF threshold 0.05, 10 samples per limb).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# limbs as (joint, joint), 1-based as in the extension; the first 17 are drawn
LIMBS = (
    (2, 3), (2, 6), (3, 4), (4, 5), (6, 7), (7, 8), (2, 9), (9, 10), (10, 11), (2, 12),
    (12, 13), (13, 14), (2, 1), (1, 15), (15, 17), (1, 16), (16, 18), (3, 17), (6, 18),
)  # fmt: skip
# the PAF channel pair (x, y) of each limb, counted from 19 as in the extension's mapIdx
PAF_CHANNELS = (
    (31, 32), (39, 40), (33, 34), (35, 36), (41, 42), (43, 44), (19, 20), (21, 22), (23, 24),
    (25, 26), (27, 28), (29, 30), (47, 48), (49, 50), (53, 54), (51, 52), (55, 56), (37, 38),
    (45, 46),
)  # fmt: skip
COLOURS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip
PEAK_THRESHOLD = 0.1
PAF_THRESHOLD = 0.05
LIMB_SAMPLES = 10


def body_network() -> Any:
    """The extension's `bodypose_model` (VGG-19 stem + 6 stages of PAF (38) / heatmap (19) branches).
    Its relu after `Mconv7_stage6_L2` is kept: the extension lists `Mconv7_stage6_L1` twice in its
    no-relu layers, so the last heatmap branch ends in a ReLU."""
    import torch
    from torch import nn

    no_relu = {
        "conv5_5_CPM_L1", "conv5_5_CPM_L2", "Mconv7_stage2_L1", "Mconv7_stage2_L2",
        "Mconv7_stage3_L1", "Mconv7_stage3_L2", "Mconv7_stage4_L1", "Mconv7_stage4_L2",
        "Mconv7_stage5_L1", "Mconv7_stage5_L2", "Mconv7_stage6_L1",
    }  # fmt: skip

    from studio.controlnet.openpose_parts import conv_layers

    def layers(spec: list[tuple[str, tuple[int, ...]]]) -> Any:
        return conv_layers(spec, no_relu)

    stem = [
        ("conv1_1", (3, 64, 3, 1, 1)), ("conv1_2", (64, 64, 3, 1, 1)), ("pool1_stage1", (2, 2, 0)),
        ("conv2_1", (64, 128, 3, 1, 1)), ("conv2_2", (128, 128, 3, 1, 1)), ("pool2_stage1", (2, 2, 0)),
        ("conv3_1", (128, 256, 3, 1, 1)), ("conv3_2", (256, 256, 3, 1, 1)),
        ("conv3_3", (256, 256, 3, 1, 1)), ("conv3_4", (256, 256, 3, 1, 1)), ("pool3_stage1", (2, 2, 0)),
        ("conv4_1", (256, 512, 3, 1, 1)), ("conv4_2", (512, 512, 3, 1, 1)),
        ("conv4_3_CPM", (512, 256, 3, 1, 1)), ("conv4_4_CPM", (256, 128, 3, 1, 1)),
    ]  # fmt: skip

    def first_stage(branch: str, outputs: int) -> list[tuple[str, tuple[int, ...]]]:
        return [
            (f"conv5_1_CPM_{branch}", (128, 128, 3, 1, 1)),
            (f"conv5_2_CPM_{branch}", (128, 128, 3, 1, 1)),
            (f"conv5_3_CPM_{branch}", (128, 128, 3, 1, 1)),
            (f"conv5_4_CPM_{branch}", (128, 512, 1, 1, 0)),
            (f"conv5_5_CPM_{branch}", (512, outputs, 1, 1, 0)),
        ]

    def later_stage(stage: int, branch: str, outputs: int) -> list[tuple[str, tuple[int, ...]]]:
        spec = [(f"Mconv1_stage{stage}_{branch}", (185, 128, 7, 1, 3))]
        spec += [(f"Mconv{i}_stage{stage}_{branch}", (128, 128, 7, 1, 3)) for i in range(2, 6)]
        spec += [(f"Mconv6_stage{stage}_{branch}", (128, 128, 1, 1, 0))]
        return [*spec, (f"Mconv7_stage{stage}_{branch}", (128, outputs, 1, 1, 0))]

    class BodyPoseModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model0 = layers(stem)
            self.model1_1 = layers(first_stage("L1", 38))
            self.model1_2 = layers(first_stage("L2", 19))
            for stage in range(2, 7):
                setattr(self, f"model{stage}_1", layers(later_stage(stage, "L1", 38)))
                setattr(self, f"model{stage}_2", layers(later_stage(stage, "L2", 19)))

        def forward(self, x: Any) -> tuple[Any, Any]:
            features = self.model0(x)
            pafs, heatmaps = self.model1_1(features), self.model1_2(features)
            for stage in range(2, 7):
                joined = torch.cat([pafs, heatmaps, features], 1)
                pafs = getattr(self, f"model{stage}_1")(joined)
                heatmaps = getattr(self, f"model{stage}_2")(joined)
            return pafs, heatmaps

    return BodyPoseModel()


def file_state_to_network(state: dict[str, Any], network: Any) -> dict[str, Any]:
    """The file's keys (`conv1_1.weight`) onto the network's (`model0.conv1_1.weight`), as the
    extension's `util.transfer` does; a file already in the network's names is taken as it is."""
    by_suffix = {name.split(".", 1)[1]: name for name in network.state_dict()}
    return {by_suffix.get(key, key): value for key, value in state.items()}


def smart_resize(array: np.ndarray, width: int, height: int) -> np.ndarray:
    """The extension's smart_resize: area when shrinking, Lanczos when growing, per channel."""
    import cv2

    grow = (width + height) >= (array.shape[1] + array.shape[0])
    interpolation = cv2.INTER_LANCZOS4 if grow else cv2.INTER_AREA
    if array.ndim == 2:
        return cv2.resize(array, (width, height), interpolation=interpolation)
    return np.stack(
        [
            cv2.resize(array[:, :, c], (width, height), interpolation=interpolation)
            for c in range(array.shape[2])
        ],
        axis=2,
    )


def body_maps(network: Any, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The heatmaps (H, W, 19) and part-affinity fields (H, W, 38) at the image's size."""
    import torch

    height, width = bgr.shape[:2]
    scale = 0.5 * 368 / height
    small = smart_resize(bgr, max(1, int(width * scale)), max(1, int(height * scale))).astype(np.float32)
    pad_h, pad_w = (-small.shape[0]) % 8, (-small.shape[1]) % 8
    padded = np.pad(small, ((0, pad_h), (0, pad_w), (0, 0)), constant_values=128.0)
    tensor = torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1)[None] / 256.0 - 0.5)).float()
    with torch.no_grad():
        pafs, heatmaps = network(tensor)

    def to_image(maps: Any) -> np.ndarray:
        array = maps[0].numpy().transpose(1, 2, 0)
        array = smart_resize(array, array.shape[1] * 8, array.shape[0] * 8)
        array = array[: padded.shape[0] - pad_h, : padded.shape[1] - pad_w]
        return smart_resize(array, width, height)

    return to_image(heatmaps), to_image(pafs)


def find_peaks(heatmaps: np.ndarray) -> list[list[tuple[float, float, float, int]]]:
    """Per joint (18), its local maxima over the threshold after a Gaussian blur (sigma 3):
    (x, y, score, id), ids counted over all joints."""
    import cv2

    peaks: list[list[tuple[float, float, float, int]]] = []
    counter = 0
    for part in range(18):
        original = np.ascontiguousarray(heatmaps[:, :, part], dtype=np.float64)
        smooth = cv2.GaussianBlur(original, (25, 25), 3.0, borderType=cv2.BORDER_REFLECT)
        padded = np.pad(smooth, 1)
        centre = padded[1:-1, 1:-1]
        is_peak = (
            (centre >= padded[:-2, 1:-1])
            & (centre >= padded[2:, 1:-1])
            & (centre >= padded[1:-1, :-2])
            & (centre >= padded[1:-1, 2:])
            & (centre > PEAK_THRESHOLD)
        )
        ys, xs = np.nonzero(is_peak)
        order = np.lexsort((xs, ys))  # the extension's np.nonzero order: row-major
        found = [(int(xs[i]), int(ys[i]), float(original[ys[i], xs[i]])) for i in order]
        peaks.append([(x, y, s, counter + i) for i, (x, y, s) in enumerate(found)])
        counter += len(found)
    return peaks


def _connections(
    peaks: list[list[tuple[float, float, float, int]]], pafs: np.ndarray, image_height: int
) -> list[np.ndarray | None]:
    """Per limb, the accepted (idA, idB, score, i, j) joint pairs, scored along the PAF."""
    connections: list[np.ndarray | None] = []
    height, width = pafs.shape[:2]
    for (joint_a, joint_b), channels in zip(LIMBS, PAF_CHANNELS, strict=True):
        field = pafs[:, :, [c - 19 for c in channels]]
        cand_a, cand_b = peaks[joint_a - 1], peaks[joint_b - 1]
        if not cand_a or not cand_b:
            connections.append(None)
            continue
        scored = []
        for i, a in enumerate(cand_a):
            for j, b in enumerate(cand_b):
                vec = np.subtract(b[:2], a[:2]).astype(np.float64)
                norm = max(0.001, math.sqrt(vec[0] ** 2 + vec[1] ** 2))
                vec /= norm
                xs = np.linspace(a[0], b[0], num=LIMB_SAMPLES).round().astype(int).clip(0, width - 1)
                ys = np.linspace(a[1], b[1], num=LIMB_SAMPLES).round().astype(int).clip(0, height - 1)
                along = field[ys, xs, 0] * vec[0] + field[ys, xs, 1] * vec[1]
                score = along.sum() / len(along) + min(0.5 * image_height / norm - 1, 0)
                if (along > PAF_THRESHOLD).sum() > 0.8 * len(along) and score > 0:
                    scored.append((i, j, score))
        scored.sort(key=lambda item: item[2], reverse=True)
        accepted = np.zeros((0, 5))
        for i, j, score in scored:
            if i not in accepted[:, 3] and j not in accepted[:, 4]:
                accepted = np.vstack([accepted, [cand_a[i][3], cand_b[j][3], score, i, j]])
                if len(accepted) >= min(len(cand_a), len(cand_b)):
                    break
        connections.append(accepted)
    return connections


def decode_body(heatmaps: np.ndarray, pafs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The extension's grouping: joints (candidate rows x, y, score, id) and people (subset rows:
    18 joint ids or -1, total score, joint count); people with < 4 joints or a mean score
    under 0.4 are dropped."""
    peaks = find_peaks(heatmaps)
    connections = _connections(peaks, pafs, heatmaps.shape[0])
    candidate = np.array([peak for joint in peaks for peak in joint], dtype=np.float64).reshape(-1, 4)
    subset = -1 * np.ones((0, 20))
    for k, accepted in enumerate(connections):
        if accepted is None:
            continue
        index_a, index_b = LIMBS[k][0] - 1, LIMBS[k][1] - 1
        for row in accepted:
            part_a, part_b, limb_score = row[0], row[1], row[2]
            owners = [
                j for j in range(len(subset)) if subset[j][index_a] == part_a or subset[j][index_b] == part_b
            ]
            if len(owners) == 1:
                j = owners[0]
                if subset[j][index_b] != part_b:
                    subset[j][index_b] = part_b
                    subset[j][-1] += 1
                    subset[j][-2] += candidate[int(part_b), 2] + limb_score
            elif len(owners) >= 2 and _overlap(subset[owners[0]], subset[owners[1]]):
                j = owners[0]
                subset[j][index_b] = part_b
                subset[j][-1] += 1
                subset[j][-2] += candidate[int(part_b), 2] + limb_score
            elif len(owners) >= 2:  # two disjoint people joined by this limb: merge them
                j1, j2 = owners[:2]
                subset[j1][:-2] += subset[j2][:-2] + 1
                subset[j1][-2:] += subset[j2][-2:]
                subset[j1][-2] += limb_score
                subset = np.delete(subset, j2, 0)
            elif not owners and k < 17:
                person = -1 * np.ones(20)
                person[index_a], person[index_b] = part_a, part_b
                person[-1] = 2
                person[-2] = candidate[int(part_a), 2] + candidate[int(part_b), 2] + limb_score
                subset = np.vstack([subset, person])
    keep = [i for i in range(len(subset)) if subset[i][-1] >= 4 and subset[i][-2] / subset[i][-1] >= 0.4]
    return candidate, subset[keep]


def _overlap(first: np.ndarray, second: np.ndarray) -> bool:
    return bool((((first >= 0).astype(int) + (second >= 0).astype(int))[:-2] == 2).any())


def people(candidate: np.ndarray, subset: np.ndarray) -> list[list[tuple[float, float] | None]]:
    """Per person, the 18 joints' (x, y) in pixels, None where not found."""
    return [
        [
            None
            if person[j] < 0
            else (float(candidate[int(person[j]), 0]), float(candidate[int(person[j]), 1]))
            for j in range(18)
        ]
        for person in subset
    ]


def draw_body(canvas: np.ndarray, joints: list[tuple[float, float] | None]) -> np.ndarray:
    """One skeleton as the extension's draw_bodypose: limbs as filled ellipses (half-width 4),
    then the whole canvas at 60% (so a person drawn before is dimmed too, as there), then the
    joints as radius-4 discs at full colour. Draws in place and returns the canvas."""
    import cv2

    for (a, b), colour in zip(LIMBS[:17], COLOURS, strict=False):
        first, second = joints[a - 1], joints[b - 1]
        if first is None or second is None:
            continue
        xs, ys = np.array([first[0], second[0]]), np.array([first[1], second[1]])
        length = float(np.hypot(xs[0] - xs[1], ys[0] - ys[1]))
        angle = math.degrees(math.atan2(ys[0] - ys[1], xs[0] - xs[1]))
        polygon = cv2.ellipse2Poly(
            (int(xs.mean()), int(ys.mean())), (int(length / 2), 4), int(angle), 0, 360, 1
        )
        cv2.fillConvexPoly(canvas, polygon, colour)
    canvas[:] = (canvas * 0.6).astype(np.uint8)
    for joint, colour in zip(joints, COLOURS, strict=False):
        if joint is not None:
            cv2.circle(canvas, (int(joint[0]), int(joint[1])), 4, colour, thickness=-1)
    return canvas


def run_openpose(
    network: Any, image: Any, hand: Any = None, face: Any = None, draw_bodies: bool = True
) -> Any:
    """The pose map of an RGB PIL image on black, at the image's size: every person's skeleton
    (unless `draw_bodies` is off: openpose_faceonly), and with the hand / face networks given,
    their keypoints in the boxes the body's joints give (studio.controlnet.openpose_parts)."""
    from PIL import Image

    bgr = np.asarray(image.convert("RGB"))[:, :, ::-1].copy()  # the networks were trained on BGR
    heatmaps, pafs = body_maps(network, bgr)
    candidate, subset = decode_body(heatmaps, pafs)
    return Image.fromarray(draw_pose_map(bgr, candidate, subset, hand, face, draw_bodies))


def draw_pose_map(
    bgr: np.ndarray, candidate: np.ndarray, subset: np.ndarray, hand: Any, face: Any, draw_bodies: bool
) -> np.ndarray:
    """The map of the people found: skeletons, then hands and faces in the boxes their joints give."""
    from studio.controlnet import openpose_parts

    height, width = bgr.shape[:2]
    canvas = np.zeros_like(bgr)
    for person, joints in zip(subset, people(candidate, subset), strict=True):  # person by person
        if draw_bodies:
            draw_body(canvas, joints)
        if hand is not None:
            for x, y, side, _ in openpose_parts.hand_boxes(candidate, person, width, height):
                peaks = openpose_parts.hand_peaks(hand, bgr[y : y + side, x : x + side])
                openpose_parts.draw_hand(canvas, [None if p is None else (p[0] + x, p[1] + y) for p in peaks])
        if face is not None:
            for x, y, side in openpose_parts.face_boxes(candidate, person, width, height):
                peaks = openpose_parts.face_peaks(face, bgr[y : y + side, x : x + side])
                openpose_parts.draw_face(canvas, [(px + x, py + y) for px, py in peaks])
    return canvas
