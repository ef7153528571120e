"""`python -m hub.server seed --data DIR --models N`: a realistic synthetic catalog.

Creators, tags, models of every type with several versions each, real small safetensors files
(and a few pickle checkpoints, scanned like uploads), locally generated preview images with
prompts in their meta. The catalog itself comes from `hub.catalog_generator`; this module makes
the files and previews it points at, builds the documents, and inserts the rows in batches
through the store's bulk loading.

File bytes: the first `unique_files` files each get their own content; beyond that, files
reuse those blobs round-robin (a catalog of 100,000 models would otherwise need 250,000 files
on disk). Every file's hashes are those of the bytes it serves, so a hash that several files
share resolves (by-hash) to the first of them, as on Civitai.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import time
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save as save_safetensors

from hub.catalog_generator import CatalogRowGenerator, GeneratedModel
from hub.server import documents
from hub.server.filecheck import scan_pickle
from hub.server.hashing import FileHashes, hash_bytes
from hub.server.media import generate_preview, media_from_png_bytes
from hub.server.records import NewMedia
from hub.server.seed_buzz import seed_buzz_and_shop
from hub.server.store import BULK_TABLES, ServerStore
from hub.server.uploads import blob_path

PREVIEW_POOL = 64


@dataclass
class Blob:
    hashes: FileHashes
    path: str
    fp: str | None
    pickle: tuple[str, str]


class BlobMaker:
    """Makes real small model files, content-addressed under DATA/files, up to `unique` distinct."""

    def __init__(self, data_dir: Path, unique: int, seed: int) -> None:
        self.data_dir = data_dir
        self.unique = max(1, unique)
        self.seed = seed
        self.safetensors: list[Blob] = []
        self.pickles: list[Blob] = []
        self.archives: list[Blob] = []
        self.count = 0

    def _write(self, data: bytes, hashes: FileHashes) -> str:
        rel = blob_path(hashes.sha256)
        path = self.data_dir / rel
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return rel

    def safetensor(self, kind: str) -> Blob:
        pool = self.safetensors
        if len(pool) >= self.unique:
            self.count += 1
            return pool[self.count % len(pool)]
        rng = np.random.default_rng(self.seed * 1_000_003 + len(pool))
        dtype = np.float16 if len(pool) % 3 else np.float32
        tensors = _tensors_for(kind, rng, dtype)
        metadata = {
            "format": "pt",
            "ss_network_dim": str(int(rng.integers(4, 64))),
            "atelier_seed": str(len(pool)),
        }
        data = save_safetensors(tensors, metadata=metadata)
        hashes = hash_bytes(data, safetensors=True)
        blob = Blob(
            hashes,
            self._write(data, hashes),
            "fp16" if dtype == np.float16 else "fp32",
            ("Success", "No Pickle imports"),
        )
        pool.append(blob)
        return blob

    def pickled(self) -> Blob:
        if len(self.pickles) >= max(1, self.unique // 20):
            return self.pickles[self.count % len(self.pickles)]
        rng = np.random.default_rng(self.seed * 7_919 + len(self.pickles))
        state = OrderedDict(
            (f"model.layer{i}.weight", rng.standard_normal((8, 8)).astype(np.float32)) for i in range(3)
        )
        data = pickle.dumps({"state_dict": state}, protocol=2)
        hashes = hash_bytes(data)
        rel = self._write(data, hashes)
        scan = scan_pickle(self.data_dir / rel)
        blob = Blob(hashes, rel, "fp32", (scan.result, scan.message))
        self.pickles.append(blob)
        return blob

    def archive(self) -> Blob:
        if len(self.archives) >= max(1, self.unique // 20):
            return self.archives[self.count % len(self.archives)]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            info = zipfile.ZipInfo("readme.txt", date_time=(2024, 1, 1, 0, 0, 0))
            archive.writestr(info, f"Atelier synthetic resource pack {len(self.archives)}\n")
        data = buffer.getvalue()
        hashes = hash_bytes(data)
        blob = Blob(hashes, self._write(data, hashes), None, ("Success", "No Pickle imports"))
        self.archives.append(blob)
        return blob


def _tensors_for(kind: str, rng: np.random.Generator, dtype: Any) -> dict[str, np.ndarray]:
    if kind in ("LORA", "LoCon", "DoRA"):
        rank = int(rng.integers(2, 6))
        return {
            f"lora_unet_down_blocks_{b}_attentions_0_proj_in.lora_{d}.weight": rng.standard_normal(
                (rank, 16) if d == "down" else (16, rank)
            ).astype(dtype)
            for b in range(2)
            for d in ("down", "up")
        } | {"lora_unet_down_blocks_0_attentions_0_proj_in.alpha": np.array(float(rank), dtype=np.float32)}
    if kind == "TextualInversion":
        return {"emb_params": rng.standard_normal((int(rng.integers(1, 5)), 32)).astype(dtype)}
    if kind == "VAE":
        return {"decoder.conv_in.weight": rng.standard_normal((8, 4, 3, 3)).astype(dtype)}
    return {
        "model.diffusion_model.input_blocks.0.0.weight": rng.standard_normal((8, 4, 3, 3)).astype(dtype),
        "model.diffusion_model.out.2.bias": rng.standard_normal((4,)).astype(dtype),
        "cond_stage_model.transformer.text_model.final_layer_norm.weight": rng.standard_normal((32,)).astype(
            dtype
        ),
    }


def _row(table: str, values: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(values[c] for c in BULK_TABLES[table])


def _stamped(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with its datetimes written as Civitai timestamps."""
    return {k: documents.iso(v) if isinstance(v, datetime) else v for k, v in values.items()}


def _write_previews(data_dir: Path, seed: int) -> list[NewMedia]:
    previews = []
    for i in range(PREVIEW_POOL):
        png = generate_preview(seed * 1000 + i)
        media = media_from_png_bytes(png)
        path = data_dir / media.path
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)
        previews.append(media)
    return previews


def seed_catalog(
    data_dir: Path,
    models: int,
    *,
    seed: int = 0,
    unique_files: int = 20_000,
    batch_size: int = 2_000,
    progress: Callable[[str], None] | None = None,
    database: str | None = None,
    users: int | None = None,
) -> dict[str, Any]:
    """Add `models` synthetic models (by `users` creators, default one per 25 models) to the
    catalog under `data_dir` (its database: `database`, a URL, by default hub.db there);
    returns counts and timing."""
    started = time.perf_counter()
    store = ServerStore(data_dir, database)
    try:
        previews = _write_previews(data_dir, seed)
        blobs = BlobMaker(data_dir, unique_files, seed)
        catalog = CatalogRowGenerator(
            seed=seed,
            models=models,
            start_ids=store.max_ids(),
            previews=previews,
            files=blobs,
            now=datetime.now(UTC),
            users=users,
        )
        store.bulk_insert(
            {
                "media": [_row("media", media.__dict__) for media in previews],
                "users": [_row("users", user) for user in catalog.users],
            },
            [],
        )
        generated = catalog.models()
        for batch_start in range(0, models, batch_size):
            count = min(batch_size, models - batch_start)
            rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in BULK_TABLES}
            model_ids = [_add_rows(rows, model) for model in islice(generated, count)]
            store.bulk_insert(rows, model_ids)
            if progress:
                progress(f"seeded {batch_start + count}/{models} models")
        store.finish_bulk()
        counts = store.counts() | seed_buzz_and_shop(store, [u["username"] for u in catalog.users], seed)
    finally:
        store.close()
    return {
        "seconds": round(time.perf_counter() - started, 2),
        **counts,
        "uniqueSafetensors": len(blobs.safetensors),
    }


def _add_rows(rows: dict[str, list[tuple[Any, ...]]], generated: GeneratedModel) -> int:
    """Append one generated model's rows, with its built document, to the batch `rows`."""
    model = _stamped(generated.row)
    model_id = model["id"]
    version_docs = []
    for version in generated.versions:
        version_row = _stamped(version.row)
        files = [_stamped(f) for f in version.files]
        images = [_stamped(i) for i in version.images]
        for file in files:
            rows["files"].append(_row("files", file))
            rows["blobs"].append(_row("blobs", file))
        rows["images"] += [_row("images", image) for image in images]
        rows["versions"].append(_row("versions", version_row))
        version_docs.append(documents.version_document(model, version_row, files, images))
    version_docs.reverse()  # newest first, as Civitai lists them
    creator = generated.creator
    doc = documents.dumps(documents.model_document(model, creator, generated.tags, version_docs))
    rows["models"].append(_row("models", model))
    rows["model_docs"].append((model_id, doc))
    rows["model_tags"] += [(model_id, t) for t in generated.tags]
    rows["model_base_models"] += [(model_id, b) for b in generated.base_models]
    rows["models_fts"].append((model_id, model["name"], " ".join(generated.tags), creator["username"]))
    return model_id


def main_seed(
    data_dir: Path, models: int, seed: int, unique_files: int, database: str | None = None
) -> dict[str, Any]:
    result = seed_catalog(
        data_dir, models, seed=seed, unique_files=unique_files, progress=print, database=database
    )
    rate = models / result["seconds"] if result["seconds"] else math.inf
    print(json.dumps(result | {"modelsPerSecond": round(rate)}))
    return result
