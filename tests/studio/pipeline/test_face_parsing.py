"""Face parsing for the paste mask, as A1111 uses it: facexlib's ParseNet layout loads, its
classes make the mask, and the mask decides what of the restored face is pasted back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from studio.pipeline.upscalers.face_align import alignment_matrix
from studio.pipeline.upscalers.face_detect import Face
from studio.pipeline.upscalers.face_parsing import FACE_CLASSES, ParseNet, parsing_mask
from studio.pipeline.upscalers.faces import FaceRestorers, restore_faces
from tests.studio.pipeline.face_landmarks import (
    SCENE_LANDMARKS,
    parsenet_layout,
    random_state,
    write_retinaface,
)
from tests.studio.pipeline.face_models import face_scene, write_tiny_gfpgan


def test_parsenet_has_facexlibs_layout_and_loads_from_models_gfpgan(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    state = ParseNet().state_dict()
    assert {key: tuple(value.shape) for key, value in state.items()} == parsenet_layout()
    parameters = sum(value.numel() for key, value in state.items() if "num_batches" not in key)
    assert round(parameters * 4 / 1e6, 1) == 85.3  # parsing_parsenet.pth: 85.3 MB of float32
    write_tiny_gfpgan(tmp_path)
    restorers = FaceRestorers(tmp_path, lambda: False)
    torch.manual_seed(0)
    random = {
        key: torch.randn(value.shape) if value.is_floating_point() else value for key, value in state.items()
    }
    save_file(random, str(tmp_path / "GFPGAN" / "parsing_parsenet.safetensors"))
    assert restorers.parser("gfpgan_visibility") is None  # only with RetinaFace (Haar crops are square)
    write_retinaface(tmp_path, "mobilenet0.25", random_state("mobilenet0.25"))
    [gfpgan, _] = restorers.status()
    assert (
        gfpgan["parsing"] is True
        and "face-parsing mask (parsing_parsenet.safetensors)" in gfpgan["detector_note"]
    )
    loaded = restorers.parser("gfpgan_visibility")
    assert isinstance(loaded, ParseNet)
    assert torch.equal(
        loaded.state_dict()["out_mask_conv.conv2d.weight"], random["out_mask_conv.conv2d.weight"]
    )


def _fixed_parser(face_class: int) -> ParseNet:
    """A small ParseNet (the same layers, one step, one block) whose classes ignore the image:
    every pixel gets `face_class`."""
    torch.manual_seed(0)
    network = ParseNet(size=64, base=32, depth=1).eval()
    with torch.no_grad():
        network.out_mask_conv.conv2d.weight.zero_()
        network.out_mask_conv.conv2d.bias.zero_()
        network.out_mask_conv.conv2d.bias[face_class] = 5.0
    return network


def test_the_parsing_mask_is_the_face_classes_blurred_with_a_clear_border() -> None:
    face = np.asarray(face_scene().resize((64, 64)))
    skin = parsing_mask(_fixed_parser(1), face)
    assert FACE_CLASSES[1] == 1 and skin.shape == (64, 64) and skin.dtype == np.float32
    assert skin[32, 32] > 0.99 and skin[0, 0] == 0 and skin[:, -1].max() == 0
    background = parsing_mask(_fixed_parser(0), face)
    assert background.max() == 0


@pytest.mark.slow
def test_the_parsing_mask_decides_what_is_pasted_back(tmp_path: Path) -> None:
    write_tiny_gfpgan(tmp_path)
    network = FaceRestorers(tmp_path, lambda: False).network("GFPGAN", "gfpgan_visibility")
    scene = face_scene()
    face = Face((100, 30, 228, 158), SCENE_LANDMARKS)
    original = np.asarray(scene).astype(int)
    skin = np.asarray(restore_faces(scene, network, [face], parser=_fixed_parser(1))).astype(int)
    changed = np.abs(skin - original).max(axis=2)
    assert changed[85:105, 155:175].mean() > 10 and changed[:, :40].max() == 0
    # a mask of background everywhere: nothing of the restored face is pasted
    nothing = np.asarray(restore_faces(scene, network, [face], parser=_fixed_parser(0)))
    assert np.array_equal(nothing, np.asarray(scene))
    # the square soft mask (no parser) reaches further out than the parsing mask's cleared border
    square = np.abs(np.asarray(restore_faces(scene, network, [face])).astype(int) - original).max(axis=2)
    assert (square > 0).sum() > (changed > 0).sum()
    assert alignment_matrix(face.landmarks, 64).shape == (2, 3)
