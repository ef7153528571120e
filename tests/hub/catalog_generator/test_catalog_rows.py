"""The shared catalog generator: deterministic, ids continuing from a start, and importable by
either half of the hub without loading the other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hub.catalog_generator import CatalogRowGenerator, sample_model


@dataclass(frozen=True)
class Hashes:
    sha256: str
    size: int = 10
    crc32: str = "00000000"
    blake3: str = "B" * 64
    autov1: str = "A" * 8
    autov3: str | None = None


@dataclass(frozen=True)
class StoredFile:
    hashes: Hashes
    path: str
    fp: str | None = "fp16"
    pickle: tuple[str, str] = ("Success", "No Pickle imports")


class Files:
    def __init__(self) -> None:
        self.made = 0

    def _next(self) -> StoredFile:
        self.made += 1
        return StoredFile(Hashes(f"{self.made:064X}"), f"files/{self.made}")

    def safetensor(self, kind: str) -> StoredFile:
        return self._next()

    def pickled(self) -> StoredFile:
        return self._next()

    def archive(self) -> StoredFile:
        return self._next()


@dataclass(frozen=True)
class Preview:
    sha256: str
    width: int = 64
    height: int = 64
    blurhash: str = "U00000fQfQfQ"


REPO = Path(__file__).resolve().parents[3]
NOW = datetime(2025, 1, 1, tzinfo=UTC)
PREVIEWS = [Preview(f"{i:064X}") for i in range(4)]


def _catalog(seed: int, start: int = 0) -> CatalogRowGenerator:
    ids = dict.fromkeys(("users", "models", "versions", "files", "images"), start)
    return CatalogRowGenerator(seed=seed, models=30, start_ids=ids, previews=PREVIEWS, files=Files(), now=NOW)


def test_the_same_seed_gives_the_same_rows_and_ids_continue_from_the_start() -> None:
    first, again, later = _catalog(3), _catalog(3), _catalog(3, start=100)
    models = list(first.models())
    assert first.users == again.users
    assert [m.row for m in models] == [m.row for m in again.models()]
    assert [m.row["id"] for m in models] == list(range(1, 31))
    assert [m.row["id"] for m in later.models()] == list(range(101, 131))
    assert min(u["id"] for u in later.users) == 101
    for model in models:
        assert model.row["image_count"] == sum(len(v.images) for v in model.versions)
        for version in model.versions:
            primary = version.files[0]
            assert primary["is_primary"] == 1
            for image in version.images:
                meta = json.loads(image["meta"])
                assert meta["resources"][0]["hash"] == primary["sha256"][:10]
                assert meta["civitaiResources"][0]["modelVersionId"] == version.row["id"]


def test_sample_documents_are_deterministic() -> None:
    assert sample_model(5, seed=2) == sample_model(5, seed=2)
    assert sample_model(5, seed=2) != sample_model(5, seed=3)


def test_the_generator_loads_neither_the_server_nor_the_local_hub() -> None:
    code = (
        "import sys, hub.catalog_generator; "
        "print(sorted(m for m in sys.modules if m.startswith(('hub.server', 'hub.store', 'hub.sync', 'hub.search'))))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"
