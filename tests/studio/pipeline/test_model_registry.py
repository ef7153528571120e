from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from pathlib import Path

import pytest

from studio.config import StudioConfig
from studio.pipeline.engine import TINY_FALLBACK, Engine, ensure_default_model
from studio.pipeline.loader import load_pipeline
from studio.pipeline.model_registry import ModelRegistry, PickleRefusedError
from studio.request import GenerationRequest, RequestError


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_layout_titles_and_hash10(studio_config: StudioConfig) -> None:
    models = studio_config.models_path
    checkpoint = write(models / "Stable-diffusion" / "sub" / "model.safetensors", b"fake weights")
    write(models / "VAE" / "vae-ft.safetensors", b"vae")
    write(models / "Lora" / "style.safetensors", b"lora")
    write(models / "embeddings" / "neg.pt", b"emb")
    registry = ModelRegistry(studio_config)
    names = [entry.name for entry in registry.checkpoints()]
    assert names == ["sub/model.safetensors", "tiny"]
    entry = registry.find("checkpoint", "sub/model")
    sha = hashlib.sha256(b"fake weights").hexdigest()
    assert entry.sha256 == sha and entry.hash10 == sha[:10]
    assert entry.title == f"sub/model.safetensors [{sha[:10]}]"
    assert entry.model_name == "sub/model" and entry.path == checkpoint.resolve()
    for wanted in (entry.title, entry.name, entry.hash10, sha):
        assert registry.find("checkpoint", wanted) == entry
    assert [v.name for v in registry.vaes()] == ["vae-ft.safetensors"]
    assert [v.name for v in registry.loras()] == ["style.safetensors"]
    assert [v.name for v in registry.embeddings()] == ["neg.pt"]
    tiny = registry.find("checkpoint", "tiny")
    assert tiny.format == "diffusers" and tiny.title.startswith("tiny [")
    with pytest.raises(RequestError, match="choose one of"):
        registry.find("checkpoint", "nothing")


def test_rescan_of_unchanged_models_hashes_nothing(studio_config: StudioConfig) -> None:
    for i in range(100):
        write(
            studio_config.models_path / "Stable-diffusion" / f"m{i:03d}.safetensors", f"weights {i}".encode()
        )
    registry = ModelRegistry(studio_config)
    registry.refresh()
    assert registry.stats.files_hashed > 100  # 100 files + the tiny model's files
    fresh = ModelRegistry(studio_config)  # a new process: the cache lives in the database
    fresh.refresh()
    assert fresh.stats.files_hashed == 0 and fresh.stats.cache_hits == 101
    changed = studio_config.models_path / "Stable-diffusion" / "m007.safetensors"
    changed.write_bytes(b"new weights!")
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10_000_000))
    fresh.refresh()
    assert fresh.stats.files_hashed == 1
    assert fresh.find("checkpoint", "m007").sha256 == hashlib.sha256(b"new weights!").hexdigest()


def test_builtin_folder_is_scanned_and_deduplicated(
    studio_config: StudioConfig, tiny_model_dir: Path
) -> None:
    shutil.copytree(tiny_model_dir, studio_config.builtin_models_path / "Diffusers" / "atelier-starter")
    registry = ModelRegistry(studio_config)
    assert [e.name for e in registry.checkpoints()] == ["atelier-starter", "tiny"]
    same = dataclasses.replace(studio_config, builtin_models_dir=studio_config.models_path)
    assert [e.name for e in ModelRegistry(same).checkpoints()] == ["tiny"]


def test_pickle_files_are_listed_but_refused(studio_config: StudioConfig) -> None:
    write(studio_config.models_path / "Stable-diffusion" / "old.ckpt", b"\x80\x04pickle")
    engine = Engine(studio_config)
    entry = engine.registry.find("checkpoint", "old")
    assert entry.is_pickle
    with pytest.raises(PickleRefusedError, match="arbitrary code"):
        load_pipeline(entry, engine.device, {}, allow_pickle=False)
    with pytest.raises(PickleRefusedError, match="allow-pickle"):
        engine.generate(
            GenerationRequest(prompt="x", model="old", steps=1, width=64, height=64, save_images=False)
        )
    with pytest.raises(PickleRefusedError):
        engine.select_model("old.ckpt")


def test_default_model_choice(studio_config: StudioConfig, tiny_model_dir: Path) -> None:
    shutil.copytree(tiny_model_dir, studio_config.models_path / "Diffusers" / "another")
    engine = Engine(studio_config)
    assert engine.current_model.startswith("another [")  # first checkpoint
    shutil.copytree(tiny_model_dir, studio_config.builtin_models_path / "Diffusers" / "atelier-starter")
    engine.registry.refresh()
    assert engine.current_model.startswith("atelier-starter [")  # the shipped starter
    engine.select_model("tiny")
    assert Engine(studio_config).current_model.startswith("tiny [")  # last selected, remembered
    configured = Engine(dataclasses.replace(studio_config, default_model="another"))
    assert configured.current_model.startswith("another [")


def test_ensure_default_model_builds_tiny_only_when_empty(tmp_path: Path) -> None:
    config = StudioConfig(data_dir=tmp_path, builtin_models_dir=tmp_path / "builtin")
    folder = ensure_default_model(config)
    assert folder == config.models_path / TINY_FALLBACK
    assert (folder / "model_index.json").exists()
    assert ensure_default_model(config) is None
    assert Engine(config).current_model.startswith("atelier-tiny [")


def test_native_size_reads_the_diffusers_configs(studio_config) -> None:
    from studio.config import PROJECT_ROOT
    from studio.pipeline.model_registry import SD_NATIVE_SIZE, ModelEntry, native_size

    starter = PROJECT_ROOT / "models" / "Diffusers" / "atelier-starter"
    assert native_size(ModelEntry("checkpoint", "atelier-starter", starter, "0" * 64, "diffusers")) == 64
    single = ModelEntry("checkpoint", "x.safetensors", starter / "x.safetensors", "0" * 64, "safetensors")
    assert native_size(single) == SD_NATIVE_SIZE
    broken = ModelEntry("checkpoint", "gone", starter / "missing", "0" * 64, "diffusers")
    assert native_size(broken) == SD_NATIVE_SIZE


def test_a1111_names_for_models_in_folders(studio_config: StudioConfig) -> None:
    models = studio_config.models_path
    write(models / "Stable-diffusion" / "anime" / "model.safetensors", b"anime weights")
    write(models / "Stable-diffusion" / "model.safetensors", b"root weights")
    write(models / "Lora" / "styles" / "ink.safetensors", b"ink")
    registry = ModelRegistry(studio_config)
    nested = registry.find("checkpoint", "anime/model")
    assert nested.a1111_model_name == "anime_model" and nested.short_name == "model"
    # A1111's sd-models model_name, and its "short title" with the hash
    assert registry.find("checkpoint", "anime_model") == nested
    assert registry.find("checkpoint", f"model [{nested.hash10}]") == nested
    # an exact name wins over another folder's bare file name
    assert registry.find("checkpoint", "model").name == "model.safetensors"
    # LoRAs by bare file name, as `<lora:ink:1>` names them
    assert registry.find("lora", "ink").name == "styles/ink.safetensors"


def test_entries_carry_their_sidecars(studio_config: StudioConfig) -> None:
    lora = write(studio_config.models_path / "Lora" / "ink.safetensors", b"ink")
    write(lora.with_suffix(".json"), b'{"activation text": "ink wash", "preferred weight": 0.7}')
    write(lora.with_name("ink.preview.png"), b"png")
    registry = ModelRegistry(studio_config)
    entry = registry.find("lora", "ink")
    assert entry.sidecar.trigger_words == "ink wash" and entry.sidecar.weight == 0.7
    assert entry.sidecar.preview == lora.with_name("ink.preview.png")
    write(lora.with_suffix(".json"), b'{"activation text": "sumi-e"}')
    registry.refresh()  # sidecars are read again on refresh, as A1111's Refresh does
    assert registry.find("lora", "ink").sidecar.trigger_words == "sumi-e"


def test_lora_safetensors_get_the_a1111_addnet_hash_in_the_same_read(studio_config: StudioConfig) -> None:
    import torch
    from safetensors.torch import save_file

    lora = studio_config.models_path / "Lora" / "style.safetensors"
    save_file({"lora_unet_x.lora_down.weight": torch.ones(2, 3)}, str(lora), metadata={"ss_output_name": "s"})
    write(studio_config.models_path / "Lora" / "broken.safetensors", b"not a safetensors file")
    data = lora.read_bytes()
    after_header = hashlib.sha256(data[8 + int.from_bytes(data[:8], "little") :]).hexdigest()
    registry = ModelRegistry(studio_config)
    entries = {entry.name: entry for entry in registry.loras()}
    assert entries["style.safetensors"].addnet_sha256 == after_header
    assert entries["style.safetensors"].sha256 == hashlib.sha256(data).hexdigest()
    assert entries["broken.safetensors"].addnet_sha256 is None
    fresh = ModelRegistry(studio_config)
    fresh.refresh()
    again = {entry.name: entry for entry in fresh.loras()}
    assert again["style.safetensors"].addnet_sha256 == after_header
    assert fresh.stats.files_hashed == 0  # both hashes come from the cache
