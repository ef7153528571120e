"""Face restoration with GFPGAN / CodeFormer networks of the real architectures (random
weights): faces found by the cascade are restored, the rest of the image is left alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.pipeline.upscalers.face_detect import detect_faces
from studio.pipeline.upscalers.faces import FaceRestorers, gfpgan_network
from studio.pipeline.upscalers.models import load_state_dict
from studio.request import RequestError
from tests.studio.pipeline.face_models import face_scene, write_random_codeformer, write_tiny_gfpgan


def _array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB")).astype(np.int16)


def test_the_cascade_finds_the_drawn_face_and_nothing_in_noise() -> None:
    [box] = detect_faces(face_scene())
    left, top, right, _ = box
    assert 95 <= left <= 130 and 25 <= top <= 60 and 60 <= right - left <= 130
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8))
    assert detect_faces(noise) == []


def test_gfpgan_restores_the_face_region_only(tmp_path: Path) -> None:
    restorers = FaceRestorers(tmp_path, lambda: False)
    gfpgan = restorers.status()[0]
    assert gfpgan["available"] is False and "models/GFPGAN" in gfpgan["reason"]
    with pytest.raises(RequestError) as caught:
        restorers.restore(face_scene(), "GFPGAN", 1.0, 0.5, "gfpgan_visibility")
    assert caught.value.field == "gfpgan_visibility" and "GFPGANv1.4.pth" in caught.value.message
    path = write_tiny_gfpgan(tmp_path)
    assert restorers.status()[0]["available"] is True and restorers.status()[0]["model_path"] == str(path)
    network = restorers.network("GFPGAN", "gfpgan_visibility")
    assert network.size == 64  # read from the state dict
    # the inferred hyper-parameters rebuild exactly this network
    rebuilt = gfpgan_network(load_state_dict(path, False))
    assert sorted(rebuilt.state_dict()) == sorted(network.module.state_dict())

    scene = face_scene()
    restored = restorers.restore(scene, "GFPGAN", 1.0, 0.5, "gfpgan_visibility")
    difference = np.abs(_array(restored) - _array(scene)).max(axis=2)
    [box] = detect_faces(scene)
    cx, cy = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2
    assert difference[cy - 10 : cy + 10, cx - 10 : cx + 10].mean() > 10  # the face changed
    assert difference[:, :20].max() == 0 and difference[-5:, :].max() == 0  # far from it: untouched
    half = restorers.restore(scene, "GFPGAN", 0.5, 0.5, "gfpgan_visibility")
    expected = Image.blend(scene, restored, 0.5)
    assert np.abs(_array(half) - _array(expected)).max() <= 1
    # no face: the image comes back as it was
    flat = Image.new("RGB", (96, 96), (200, 30, 30))
    assert restorers.detect(flat, "gfpgan_visibility") == []
    assert (_array(restorers.restore(flat, "GFPGAN", 1.0, 0.5, "gfpgan_visibility")) == _array(flat)).all()


def test_a_file_of_another_architecture_is_named(tmp_path: Path) -> None:
    from tests.studio.pipeline.upscaler_models import write_tiny_esrgan

    esrgan = write_tiny_esrgan(tmp_path)
    target = tmp_path / "GFPGAN" / "wrong.safetensors"
    target.parent.mkdir()
    esrgan.rename(target)
    with pytest.raises(RequestError, match=r"wrong\.safetensors: not a GFPGAN model") as caught:
        FaceRestorers(tmp_path, lambda: False).network("GFPGAN", "gfpgan_visibility")
    assert caught.value.field == "gfpgan_visibility"


@pytest.mark.slow
def test_codeformer_restores_with_its_weight(tmp_path: Path) -> None:
    """One pass of a random CodeFormer (its 512 px autoencoder is fixed: ~20-50 s on one core)."""
    restorers = FaceRestorers(tmp_path, lambda: False)
    assert "models/Codeformer" in restorers.status()[1]["reason"]
    write_random_codeformer(tmp_path)
    assert restorers.status()[1]["available"] is True
    scene = face_scene()
    restored = restorers.restore(scene, "CodeFormer", 1.0, 0.7, "codeformer_visibility")
    difference = np.abs(_array(restored) - _array(scene)).max(axis=2)
    assert difference[70:90, 150:170].mean() > 10 and difference[:, :20].max() == 0


@pytest.mark.slow
def test_restore_faces_in_a_generation(studio_config) -> None:
    """A1111's `restore_faces`: each generated image's faces restored before it is saved, and
    `Face restoration: GFPGAN` in its infotext. (img2img at denoising 0 returns the init image,
    so the face the cascade finds is the drawn one.)"""
    import io
    from dataclasses import replace

    from studio.infotext import parse_infotext, request_fields
    from studio.pipeline.engine import Engine
    from studio.request import GenerationRequest
    from tests.studio.pipeline.conftest import png_of

    engine = Engine(studio_config)
    scene = face_scene()
    request = GenerationRequest(
        prompt="a face",
        steps=2,
        width=256,
        height=192,
        seed=1,
        init_images=(png_of(scene),),
        denoising_strength=0.0,
        restore_faces=True,
        face_restoration_model="GFPGAN",
    )
    with pytest.raises(RequestError) as caught:
        engine.check(request)
    assert caught.value.field == "restore_faces" and "models/GFPGAN" in caught.value.message
    write_tiny_gfpgan(studio_config.models_path)
    record = engine.generate(request).images[0]
    expected = engine.upscalers.faces.restore(scene, "GFPGAN", 1.0, 0.5, "restore_faces")
    image = Image.open(io.BytesIO(record.png))
    assert np.abs(_array(image) - _array(expected)).max() <= 1
    assert np.abs(_array(image) - _array(scene)).max() > 10
    params = parse_infotext(record.infotext)
    assert params["Face restoration"] == "GFPGAN"
    assert request_fields(params)["restore_faces"] is True
    plain = engine.generate(replace(request, restore_faces=False)).images[0]
    assert "Face restoration" not in plain.infotext
    assert (_array(Image.open(io.BytesIO(plain.png))) == _array(scene)).all()
    with pytest.raises(RequestError, match="face_restoration_model"):
        engine.check(replace(request, face_restoration_model="RestoreFormer"))
