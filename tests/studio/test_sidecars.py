"""Sidecar files beside a model, as A1111, SD.Next and Civitai Helper write them."""

from __future__ import annotations

import json
from pathlib import Path

from studio.sidecars import read_sidecars


def test_no_sidecars(tmp_path: Path) -> None:
    model = tmp_path / "detail.safetensors"
    model.write_bytes(b"x")
    sidecar = read_sidecars(model)
    assert sidecar.preview is None and sidecar.trigger_words == "" and sidecar.weight == 1.0


def test_a1111_user_metadata_and_civitai_info(tmp_path: Path) -> None:
    model = tmp_path / "detail.safetensors"
    model.write_bytes(b"x")
    (tmp_path / "detail.json").write_text(
        json.dumps(
            {
                "description": "adds detail",
                "sd version": "SD1",
                "activation text": "intricate detail",
                "preferred weight": 0.6,
                "negative text": "flat",
                "notes": "mine",
            }
        ),
        encoding="utf-8",
    )
    (tmp_path / "detail.civitai.info").write_text(
        json.dumps(
            {
                "name": "v2",
                "baseModel": "SD 1.5",
                "trainedWords": ["detailed", " "],
                "description": "<p>Civitai &amp; more</p>",
                "model": {"name": "Detail Tweaker", "type": "LORA"},
            }
        ),
        encoding="utf-8",
    )
    (tmp_path / "detail.preview.png").write_bytes(b"png")
    sidecar = read_sidecars(model)
    assert sidecar.activation_text == "intricate detail" and sidecar.trigger_words == "intricate detail"
    assert sidecar.trained_words == ("detailed",)
    assert sidecar.preferred_weight == 0.6 and sidecar.weight == 0.6
    assert sidecar.negative_text == "flat" and sidecar.notes == "mine" and sidecar.sd_version == "SD1"
    assert sidecar.description == "adds detail"
    assert sidecar.base_model == "SD 1.5" and sidecar.civitai_name == "Detail Tweaker / v2"
    assert sidecar.preview == tmp_path / "detail.preview.png"
    # the plain name comes before ".preview", as A1111 looks them up
    (tmp_path / "detail.png").write_bytes(b"png")
    assert read_sidecars(model).preview == tmp_path / "detail.png"


def test_civitai_only_and_unreadable_sidecars(tmp_path: Path) -> None:
    model = tmp_path / "style.safetensors"
    model.write_bytes(b"x")
    (tmp_path / "style.civitai.info").write_text(
        json.dumps({"trainedWords": ["ink style", "sketch"], "description": "<b>Ink</b> &amp; wash"}),
        encoding="utf-8",
    )
    (tmp_path / "style.json").write_text("{not json", encoding="utf-8")
    sidecar = read_sidecars(model)
    assert sidecar.trigger_words == "ink style, sketch"
    assert sidecar.description == "Ink & wash"
    assert len(sidecar.errors) == 1 and sidecar.errors[0].startswith("style.json:")


def test_a_diffusers_folder_keeps_its_sidecars_beside_it(tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    folder.mkdir()
    (tmp_path / "tiny.json").write_text(json.dumps({"activation text": "tiny"}), encoding="utf-8")
    (tmp_path / "tiny.jpg").write_bytes(b"jpg")
    sidecar = read_sidecars(folder)
    assert sidecar.activation_text == "tiny" and sidecar.preview == tmp_path / "tiny.jpg"


def test_the_hub_download_sidecar_is_read_without_a_civitai_info(tmp_path: Path) -> None:
    from hub.download.install import SIDECAR_SUFFIX, sidecar_path

    model = tmp_path / "ink.safetensors"
    model.write_bytes(b"x")
    # what Atelier's own hub download writes beside a model (hub/download/downloader.py)
    sidecar_path(model).write_text(
        json.dumps(
            {
                "modelId": 1,
                "versionId": 2,
                "file": {},
                "modelName": "Ink",
                "versionName": "v3",
                "baseModel": "SD 1.5",
                "trainedWords": ["sumi-e"],
                "description": "<p>ink</p>",
            }
        ),
        encoding="utf-8",
    )
    assert SIDECAR_SUFFIX == ".hub.json"
    sidecar = read_sidecars(model)
    assert sidecar.trigger_words == "sumi-e" and sidecar.civitai_name == "Ink / v3"
    assert sidecar.base_model == "SD 1.5" and sidecar.description == "ink"
