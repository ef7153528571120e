"""The openpose preprocessor: part-affinity-field decoding on hand-made heatmaps (one and two
people), the skeleton drawn as sd-webui-controlnet draws it, and the full-size body network with
random weights saved as the extension's `openpose/body_pose_model.pth` run from the UI's Preview."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.config import StudioConfig
from studio.controlnet import openpose, preprocessors
from studio.request import RequestError


def skeleton(cx: int) -> list[tuple[int, int]]:
    """The 18 OpenPose joints of a standing person centred at x = cx (nose, neck, right arm,
    left arm, right leg, left leg, eyes, ears)."""
    return [
        (cx, 20), (cx, 36), (cx - 14, 38), (cx - 18, 56), (cx - 20, 72), (cx + 14, 38),
        (cx + 18, 56), (cx + 20, 72), (cx - 8, 76), (cx - 9, 98), (cx - 10, 118), (cx + 8, 76),
        (cx + 9, 98), (cx + 10, 118), (cx - 4, 16), (cx + 4, 16), (cx - 8, 18), (cx + 8, 18),
    ]  # fmt: skip


def maps(
    people: list[list[tuple[int, int]]], height: int = 128, width: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps with a Gaussian at each joint and PAFs holding each limb's unit vector along it."""
    heatmaps = np.zeros((height, width, 19), np.float32)
    pafs = np.zeros((height, width, 38), np.float32)
    ys, xs = np.mgrid[0:height, 0:width]
    for joints in people:
        for part, (x, y) in enumerate(joints):
            heatmaps[:, :, part] = np.maximum(
                heatmaps[:, :, part], np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / 8.0)
            )
        for (a, b), channels in zip(openpose.LIMBS, openpose.PAF_CHANNELS, strict=True):
            (x0, y0), (x1, y1) = joints[a - 1], joints[b - 1]
            length = np.hypot(x1 - x0, y1 - y0)
            ux, uy = (x1 - x0) / length, (y1 - y0) / length
            t = ((xs - x0) * ux + (ys - y0) * uy).clip(0, length)
            near = np.hypot(xs - (x0 + t * ux), ys - (y0 + t * uy)) <= 2.0
            pafs[near, channels[0] - 19] = ux
            pafs[near, channels[1] - 19] = uy
    return heatmaps, pafs


def test_one_person_is_decoded_joint_for_joint() -> None:
    heatmaps, pafs = maps([skeleton(60)])
    candidate, subset = openpose.decode_body(heatmaps, pafs)
    found = openpose.people(candidate, subset)
    assert found == [[(float(x), float(y)) for x, y in skeleton(60)]]


def test_two_people_are_kept_apart_and_noise_is_not_a_person() -> None:
    heatmaps, pafs = maps([skeleton(30), skeleton(92)])
    heatmaps[5, 120, 0] = 0.9  # a lone nose far from any limb field
    candidate, subset = openpose.decode_body(heatmaps, pafs)
    found = sorted(openpose.people(candidate, subset), key=lambda joints: joints[0][0])  # type: ignore[index]
    assert found == [[(float(x), float(y)) for x, y in skeleton(cx)] for cx in (30, 92)]
    # without part-affinity fields the joints stay unconnected: nobody
    _, nobody = openpose.decode_body(heatmaps, np.zeros_like(pafs))
    assert len(nobody) == 0


def test_the_skeleton_is_drawn_as_the_extension_draws_it() -> None:
    joints: list[tuple[float, float] | None] = [(float(x), float(y)) for x, y in skeleton(60)]
    canvas = openpose.draw_body(np.zeros((128, 128, 3), np.uint8), joints)
    assert tuple(canvas[72, 40]) == openpose.COLOURS[4]  # right wrist disc, full colour
    assert tuple(canvas[108, 69]) == tuple(
        int(c * 0.6) for c in openpose.COLOURS[11]
    )  # left shin (limb 13-14), 60%
    assert canvas[5, 5].sum() == 0 and canvas[60, 60].sum() == 0  # background and between the arms
    joints[4] = None  # a missing wrist: neither its disc nor its forearm
    bare = openpose.draw_body(np.zeros((128, 128, 3), np.uint8), joints)
    assert bare[72, 40].sum() == 0 and bare[66, 39].sum() == 0


def test_the_network_has_the_extension_s_layers() -> None:
    import torch

    with torch.device("meta"):  # names and shapes only, no weights drawn
        network = openpose.body_network()
    names = list(network.state_dict())
    assert len(names) == 184 and sum(v.numel() for v in network.state_dict().values()) == 52_311_446
    assert {
        "model0.conv1_1.weight",
        "model1_1.conv5_5_CPM_L1.bias",
        "model6_2.Mconv7_stage6_L2.weight",
    } <= set(names)
    file_names = {name.split(".", 1)[1] for name in names}  # as body_pose_model.pth holds them
    assert set(openpose.file_state_to_network(dict.fromkeys(file_names, 0), network)) == set(names)


@pytest.mark.slow
def test_openpose_runs_the_file_s_network_from_the_ui_preview(studio_config: StudioConfig) -> None:
    """The full-size body network (52 M parameters) with random weights, saved under the
    extension's name and layer names, through the UI's Preview at 512 px."""
    import gradio as gr
    import torch

    from studio.ui.controlnet import preview

    folder = studio_config.models_path / "ControlNet" / "annotators"
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8))
    with pytest.raises(gr.Error, match=r"openpose/body_pose_model\.pth"):
        preview(studio_config, image, "openpose")
    torch.manual_seed(0)
    network = openpose.body_network().eval()
    path = Path(folder / "openpose" / "body_pose_model.pth")
    path.parent.mkdir(parents=True)
    torch.save({name.split(".", 1)[1]: value for name, value in network.state_dict().items()}, str(path))
    with pytest.raises(gr.Error, match="--allow-pickle"):
        preview(studio_config, image, "openpose")
    out = preview(replace(studio_config, allow_pickle=True), image, "openpose")
    assert out.mode == "RGB" and out.size == (680, 512)
    # the same as decoding the network's own maps by hand
    source = np.asarray(preprocessors.resize_short_side(image, 512))
    heatmaps, pafs = openpose.body_maps(network, source[:, :, ::-1].copy())
    assert heatmaps.shape == (512, 680, 19) and pafs.shape == (512, 680, 38)
    expected = np.zeros_like(source)
    for joints in openpose.people(*openpose.decode_body(heatmaps, pafs)):
        openpose.draw_body(expected, joints)
    assert np.array_equal(np.asarray(out), expected)


def test_hand_and_face_boxes_follow_the_joints() -> None:
    from studio.controlnet import openpose_parts

    candidate, subset = openpose.decode_body(*maps([skeleton(60)]))
    # past each wrist by a third of the forearm, 1.5x the longer of forearm and 0.9x upper arm
    assert openpose_parts.hand_boxes(candidate, subset[0], 128, 128) == [
        (68, 64, 24, True),
        (26, 64, 24, False),
    ]
    # around the nose, 3x the eye offset or 1.5x the ear offset, doubled
    assert openpose_parts.face_boxes(candidate, subset[0], 128, 128) == [(48, 8, 24)]
    # clipped at the image's edge; under 20 px: no box
    assert openpose_parts.hand_boxes(candidate, subset[0], 80, 128) == [(26, 64, 24, False)]
    assert openpose_parts.face_boxes(candidate, subset[0], 128, 18) == []


def test_a_hand_keypoint_is_the_peak_of_its_strongest_region() -> None:
    from studio.controlnet import openpose_parts

    heatmap = np.zeros((32, 32))
    heatmap[4, 4] = 0.9  # the highest value, alone
    heatmap[20:26, 20:26] = 0.3  # a wider region with more response in all
    heatmap[22, 23] = 0.4
    assert openpose_parts.strongest_blob_peak(heatmap) == (23, 22)
    assert openpose_parts.strongest_blob_peak(np.full((8, 8), 0.01)) is None


def test_a_hand_is_drawn_as_the_extension_draws_it() -> None:
    from studio.controlnet import openpose_parts

    peaks: list[tuple[int, int] | None] = [(10 + 4 * (i % 5), 10 + 4 * (i // 5)) for i in range(21)]
    peaks[20] = None
    canvas = openpose_parts.draw_hand(np.zeros((64, 64, 3), np.uint8), peaks)
    assert tuple(canvas[10, 10]) == (0, 0, 255)  # joints: blue discs (0, 0, 255) on top
    assert canvas[40, 40].sum() == 0 and canvas[60, 60].sum() == 0
    bones = openpose_parts.draw_hand(np.zeros((64, 64, 3), np.uint8), [(20, 20), (40, 20), *[None] * 19])
    assert tuple(bones[20, 30]) == (255, 0, 0)  # the first bone: hue 0, red


@pytest.mark.slow
def test_openpose_full_runs_the_three_files(studio_config: StudioConfig) -> None:
    """Body, hand (hand_pose_model.pth, the file's block-less names) and face (facenet.pth)
    networks at full size with random weights: refused naming the missing file, then run; and
    on a hand-made body, hands and faces are looked for only inside their boxes."""
    import torch
    from safetensors.torch import save_file

    from studio.controlnet import openpose_parts

    folder = studio_config.models_path / "ControlNet" / "annotators" / "openpose"
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    body = openpose.body_network().eval()
    save_file(
        {k: v.contiguous() for k, v in body.state_dict().items()}, str(folder / "body_pose_model.safetensors")
    )
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    annotators = folder.parent
    with pytest.raises(RequestError, match=r"openpose/hand_pose_model\.pth"):
        preprocessors.run("openpose_full", image, 64, -1, -1, annotators)
    hand, face = openpose_parts.hand_network().eval(), openpose_parts.face_network().eval()
    hand_file = {name.split(".", 1)[1]: value.contiguous() for name, value in hand.state_dict().items()}
    assert (
        "conv1_1.weight" in hand_file
        and "Mconv7_stage6.bias" in hand_file
        and len(hand_file) == len(hand.state_dict())
    )
    save_file(hand_file, str(folder / "hand_pose_model.safetensors"))
    with pytest.raises(RequestError, match=r"openpose/facenet\.pth"):
        preprocessors.run("openpose_full", image, 64, -1, -1, annotators)
    face_file = face.state_dict()
    assert {"conv5_3_CPM.weight", "conv6_2_CPM.bias", "Mconv7_stage6.weight"} <= set(face_file)
    save_file({k: v.contiguous() for k, v in face_file.items()}, str(folder / "facenet.safetensors"))
    assert preprocessors.run("openpose_full", image, 64, -1, -1, annotators).size == (64, 64)
    # on a hand-made body: everything drawn beyond its skeleton lies in a hand or face box
    bgr = np.asarray(
        Image.fromarray(np.random.default_rng(1).integers(0, 255, (128, 128, 3), dtype=np.uint8))
    )
    candidate, subset = openpose.decode_body(*maps([skeleton(60)]))
    subset[0][[5, 6, 7]] = -1  # no left arm: one hand to look at (four scales up to 736 px)
    plain = openpose.draw_pose_map(bgr, candidate, subset, None, None, True)
    full = openpose.draw_pose_map(bgr, candidate, subset, hand, face, True)
    boxes = [(x, y, s) for x, y, s, _ in openpose_parts.hand_boxes(candidate, subset[0], 128, 128)]
    boxes += openpose_parts.face_boxes(candidate, subset[0], 128, 128)
    inside = np.zeros((128, 128), bool)
    for x, y, s in boxes:
        inside[max(0, y - 4) : y + s + 4, max(0, x - 4) : x + s + 4] = True
    assert not ((full != plain).any(axis=2) & ~inside).any()
    assert openpose.draw_pose_map(bgr, candidate, subset, None, face, False)[~inside].sum() == 0
