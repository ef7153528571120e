"""RetinaFace with facexlib's layout: its files load unchanged (random weights), it runs at
real widths, its decoding and NMS find the faces its heads point at, and face restoration uses
it (aligned by landmarks) when the file is present, else Haar with the reason in the status."""

from __future__ import annotations

from math import ceil
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.pipeline.upscalers.face_align import FFHQ_TEMPLATE_512
from studio.pipeline.upscalers.faces import FaceRestorers
from studio.pipeline.upscalers.retinaface import RetinaFace, build_retinaface, priors
from studio.request import RequestError
from tests.studio.pipeline.face_landmarks import (
    facexlib_layout,
    pointing_state,
    random_state,
    write_retinaface,
)
from tests.studio.pipeline.face_models import face_scene, write_tiny_gfpgan


@pytest.mark.parametrize("backbone", ["resnet50", "mobilenet0.25"])
def test_the_network_has_facexlibs_layout(backbone: str) -> None:
    state = RetinaFace(backbone).state_dict()
    expected = facexlib_layout(backbone)
    assert sorted(state) == sorted(expected)
    assert {key: tuple(value.shape) for key, value in state.items()} == expected
    parameters = sum(value.numel() for key, value in state.items() if "num_batches" not in key)
    # facexlib's files: 104 MB (ResNet-50) and 1.7 MB (MobileNet-0.25) of float32
    assert (parameters * 4) // 2**20 == (104 if backbone == "resnet50" else 1)


def test_resnet50_loads_a_random_facexlib_state_and_runs(tmp_path: Path) -> None:
    # the original RetinaFace checkpoints keep DataParallel's "module." prefix; facexlib drops it
    network = build_retinaface(random_state("resnet50", prefix="module."))
    with torch.no_grad():
        boxes, scores, marks = network(torch.randn(1, 3, 160, 224) * 50)
    anchors = sum(ceil(160 / step) * ceil(224 / step) * 2 for step in (8, 16, 32))
    assert (
        boxes.shape == (1, anchors, 4) and scores.shape == (1, anchors, 2) and marks.shape == (1, anchors, 10)
    )
    assert priors(160, 224).shape == (anchors, 4)
    assert torch.allclose(scores.sum(-1), torch.ones(1, anchors))
    with pytest.raises(ValueError, match="not a RetinaFace"):
        build_retinaface({"conv.weight": torch.zeros(1)})


def test_decoding_and_nms_find_the_faces_the_heads_point_at(tmp_path: Path) -> None:
    write_tiny_gfpgan(tmp_path)
    write_retinaface(tmp_path, "mobilenet0.25", pointing_state())
    restorers = FaceRestorers(tmp_path, lambda: False)
    [gfpgan, _] = restorers.status()
    assert gfpgan["available"] is True and gfpgan["model_path"].endswith("tiny-gfpgan.safetensors")
    assert gfpgan["detector"] == "RetinaFace" and gfpgan["aligned"] is True
    assert "detection_mobilenet0.25_Final.safetensors" in gfpgan["detector_note"]
    scene = face_scene()  # 256 x 192: resized to a 640 px short side for detection, as facexlib
    faces = restorers.detect(scene, "gfpgan_visibility")
    assert len(faces) >= 2
    boxes = np.array([face.box for face in faces], dtype=float)
    sides = boxes[:, 2] - boxes[:, 0]
    assert np.allclose(sides, boxes[:, 3] - boxes[:, 1], atol=1)
    detected_sides = sides * 640 / 192  # the anchors' sizes, but for boxes rounded to whole pixels
    assert np.minimum(np.abs(detected_sides - 256), np.abs(detected_sides - 512)).max() <= 4
    for face, side in zip(faces, sides, strict=True):
        centre = ((face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2)
        expected = centre + (np.array(FFHQ_TEMPLATE_512) - 256.0) / 512.0 * side
        assert np.abs(np.array(face.landmarks) - expected).max() < 1.0
    # boxes kept by NMS overlap by at most 0.4 (intersection over union)
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            w = max(0.0, min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]))
            h = max(0.0, min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]))
            assert w * h / (sides[i] ** 2 + sides[j] ** 2 - w * h) <= 0.45
    # the restore path runs on them (aligned crops pasted back)
    restored = restorers.restore(scene, "GFPGAN", 1.0, 0.5, "gfpgan_visibility")
    assert np.abs(np.asarray(restored).astype(int) - np.asarray(scene)).max() > 10


def test_haar_is_the_fallback_and_says_why(tmp_path: Path) -> None:
    write_tiny_gfpgan(tmp_path)
    folder = tmp_path / "GFPGAN"
    torch.save(random_state("mobilenet0.25"), folder / "detection_mobilenet0.25_Final.pth")
    without = FaceRestorers(tmp_path, lambda: False).status()[0]
    assert without["available"] is True and without["detector"] == "Haar cascade"
    assert without["aligned"] is False and "axis-aligned" in without["detector_note"]
    assert "--allow-pickle" in without["detector_note"]
    # facexlib's files beside the restorer are never taken for the restorer's model
    (folder / "tiny-gfpgan.safetensors").unlink()
    allowed = FaceRestorers(tmp_path, lambda: True)
    [gfpgan, _] = allowed.status()
    assert gfpgan["available"] is False and gfpgan["detector"] == "RetinaFace"
    # a file under RetinaFace's name that is something else: the request's field is named
    (folder / "detection_mobilenet0.25_Final.pth").unlink()
    torch.save({"conv.weight": torch.zeros(1)}, folder / "detection_Resnet50_Final.pth")
    with pytest.raises(RequestError, match=r"detection_Resnet50_Final\.pth: not a RetinaFace") as caught:
        allowed.detect(face_scene(), "codeformer_visibility")
    assert caught.value.field == "codeformer_visibility"
