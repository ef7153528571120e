"""Landmark alignment as facexlib does it for A1111: a rotated face warps upright onto the FFHQ
template, the inverse paste puts pixels back, and the whole restore path with a tiny random
GFPGAN and given landmarks changes the face only."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from studio.pipeline.upscalers.face_align import alignment_matrix, paste_face, template, warp_face
from studio.pipeline.upscalers.face_detect import Face
from studio.pipeline.upscalers.faces import FaceRestorers, restore_faces
from tests.studio.pipeline.face_landmarks import SCENE_LANDMARKS, rotate_points
from tests.studio.pipeline.face_models import face_scene, write_tiny_gfpgan

COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255))


def test_a_rotated_face_template_warps_upright() -> None:
    size = 128
    points = template(size) * 0.8 + (90.0, 60.0)  # the template, smaller, somewhere in a picture
    turned = rotate_points(points, 30.0, (160.0, 130.0))
    image = Image.new("RGB", (320, 256), (60, 60, 60))
    draw = ImageDraw.Draw(image)
    for (x, y), colour in zip(turned, COLOURS, strict=True):
        draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=colour)
    matrix = alignment_matrix(turned, size)
    mapped = turned @ matrix[:, :2].T + matrix[:, 2]
    assert np.abs(mapped - template(size)).max() < 0.05
    assert math.isclose(math.degrees(math.atan2(matrix[1, 0], matrix[0, 0])), 30.0, abs_tol=0.1)
    assert math.isclose(math.hypot(matrix[0, 0], matrix[1, 0]), 1 / 0.8, rel_tol=1e-3)
    face = warp_face(np.asarray(image), matrix, size)
    assert face.shape == (size, size, 3)
    for (x, y), colour in zip(template(size), COLOURS, strict=True):  # each dot where the template says
        assert np.abs(face[round(y), round(x)].astype(int) - colour).max() <= 2


def _smooth(width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    channels = [127 + 100 * np.sin(x / 17.0), 127 + 100 * np.cos(y / 13.0), 90 + y / 4]
    return np.stack(channels, axis=2).round().clip(0, 255).astype(np.uint8)


def test_the_inverse_paste_puts_pixels_back() -> None:
    rgb = _smooth(256, 192)
    landmarks = rotate_points(SCENE_LANDMARKS, -20.0, (164.0, 95.0))
    matrix = alignment_matrix(landmarks, 64)
    face = warp_face(rgb, matrix, 64)
    back = paste_face(rgb, face, matrix).astype(int)
    difference = np.abs(back - rgb).max(axis=2)
    assert difference.max() <= 12 and difference.mean() < 0.5  # resampled twice inside the face
    # a flat restored face: the face's middle takes its colour, pixels away from it are untouched
    painted = paste_face(rgb, np.full_like(face, 250), matrix)
    centre = np.round(np.mean(landmarks, axis=0)).astype(int)
    assert (painted[centre[1], centre[0]] == 250).all()
    changed = np.abs(painted.astype(int) - rgb).max(axis=2) > 0
    inverse_corners = np.array([[0, 0], [63, 0], [0, 63], [63, 63]], dtype=float)
    import cv2

    inverse = cv2.invertAffineTransform(matrix)
    corners = inverse_corners @ inverse[:, :2].T + inverse[:, 2]
    ys, xs = np.nonzero(changed)
    assert xs.min() >= corners[:, 0].min() - 1 and xs.max() <= corners[:, 0].max() + 1
    assert ys.min() >= corners[:, 1].min() - 1 and ys.max() <= corners[:, 1].max() + 1


def test_restoring_a_tilted_face_with_given_landmarks(tmp_path: Path) -> None:
    write_tiny_gfpgan(tmp_path)
    restorers = FaceRestorers(tmp_path, lambda: False)
    network = restorers.network("GFPGAN", "gfpgan_visibility")
    scene = face_scene()
    upright = Face((100, 30, 228, 158), SCENE_LANDMARKS)
    tilted_scene = scene.rotate(
        25.0, resample=Image.Resampling.BICUBIC, center=(164, 95), fillcolor=(90, 110, 140)
    )
    tilted = Face((100, 30, 228, 158), tuple(map(tuple, rotate_points(SCENE_LANDMARKS, 25.0, (164.0, 95.0)))))
    # alignment turns the tilted face upright: both crops agree (apart from resampling)
    crop_upright = warp_face(np.asarray(scene), alignment_matrix(upright.landmarks, 64), 64).astype(int)
    crop_tilted = warp_face(np.asarray(tilted_scene), alignment_matrix(tilted.landmarks, 64), 64).astype(int)
    assert np.abs(crop_upright - crop_tilted)[8:-8, 8:-8].mean() < 6
    restored = restore_faces(tilted_scene, network, [tilted])
    difference = np.abs(np.asarray(restored).astype(int) - np.asarray(tilted_scene)).max(axis=2)
    assert difference[85:105, 155:175].mean() > 10  # the face changed
    assert difference[:, :40].max() == 0 and difference[-10:, :].max() == 0  # far from it: untouched
    # no face given: the image comes back as it was
    assert np.array_equal(np.asarray(restore_faces(tilted_scene, network, [])), np.asarray(tilted_scene))
