"""`python -m hub.server seed --data DIR --models N`: a realistic synthetic catalog.

Creators, tags, models of every type with several versions each, real small safetensors files
(and a few pickle checkpoints, scanned like uploads), locally generated preview images with
prompts in their meta. Rows are built in memory and inserted in batches.

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
import random
import time
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save as save_safetensors

from hub.server import documents
from hub.server.filecheck import scan_pickle
from hub.server.hashing import FileHashes, hash_bytes
from hub.server.media import generate_preview, media_from_png_bytes
from hub.server.records import NewMedia
from hub.server.store import BULK_TABLES, ServerStore
from hub.server.uploads import blob_path

ADJECTIVES = [
    "Velvet",
    "Lunar",
    "Crimson",
    "Silent",
    "Golden",
    "Misty",
    "Neon",
    "Ancient",
    "Hidden",
    "Radiant",
    "Frozen",
    "Wild",
    "Gentle",
    "Electric",
    "Amber",
    "Cobalt",
    "Ivory",
    "Obsidian",
    "Emerald",
    "Scarlet",
    "Dreamy",
    "Painted",
    "Urban",
    "Cosmic",
    "Rustic",
    "Serene",
    "Stormy",
    "Sunlit",
    "Shadow",
    "Crystal",
]
NOUNS = [
    "Lantern",
    "Harbor",
    "Meadow",
    "Fox",
    "Cathedral",
    "Garden",
    "Voyager",
    "Tide",
    "Ember",
    "Willow",
    "Atlas",
    "Raven",
    "Orchard",
    "Comet",
    "Lotus",
    "Forge",
    "Canyon",
    "Prism",
    "Citadel",
    "Nomad",
    "Echo",
    "Blossom",
    "Glacier",
    "Mirage",
    "Spire",
    "Falcon",
    "Reverie",
    "Tapestry",
    "Horizon",
    "Quill",
]
STYLES = [
    "anime",
    "photorealistic",
    "watercolor",
    "oil-painting",
    "pixel-art",
    "concept-art",
    "portrait",
    "landscape",
    "architecture",
    "fantasy",
    "sci-fi",
    "cyberpunk",
    "steampunk",
    "character",
    "clothing",
    "style",
    "background",
    "vehicle",
    "animal",
    "food",
    "cinematic",
    "illustration",
    "3d-render",
    "line-art",
    "ink",
    "sketch",
    "retro",
    "vaporwave",
    "minimalism",
    "surreal",
    "horror",
    "cute",
    "chibi",
]
TYPE_WEIGHTS = {
    "Checkpoint": 18,
    "LORA": 42,
    "LoCon": 6,
    "DoRA": 2,
    "TextualInversion": 9,
    "Hypernetwork": 1,
    "AestheticGradient": 1,
    "Controlnet": 4,
    "Upscaler": 3,
    "MotionModule": 1,
    "VAE": 3,
    "Poses": 2,
    "Wildcards": 2,
    "Workflows": 2,
    "Detection": 2,
    "Other": 2,
}
BASE_WEIGHTS = {
    "SD 1.5": 25,
    "SDXL 1.0": 25,
    "Pony": 12,
    "Illustrious": 14,
    "Flux.1 D": 10,
    "NoobAI": 4,
    "SD 3.5": 2,
    "Flux.1 S": 2,
    "SD 2.1": 1,
    "Hunyuan Video": 1,
    "Wan Video": 1,
    "Other": 1,
}
SAMPLERS = ("Euler a", "Euler", "DPM++ 2M Karras", "DPM++ SDE Karras", "DDIM", "UniPC", "DPM++ 2M SDE")
EXTENSIONS = {"Wildcards": ".zip", "Workflows": ".zip", "Poses": ".zip", "Other": ".zip"}
PREVIEW_POOL = 64
USER_CREATED = "2023-01-01T00:00:00.000Z"


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


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _row(table: str, values: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(values[c] for c in BULK_TABLES[table])


def seed_catalog(
    data_dir: Path,
    models: int,
    *,
    seed: int = 0,
    unique_files: int = 20_000,
    batch_size: int = 2_000,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Add `models` synthetic models to the catalog under `data_dir`; returns counts and timing."""
    started = time.perf_counter()
    store = ServerStore(data_dir)
    try:
        rng = random.Random(seed)
        start_ids = store.max_ids()
        previews: list[NewMedia] = []
        media_rows = []
        for i in range(PREVIEW_POOL):
            png = generate_preview(seed * 1000 + i)
            media = media_from_png_bytes(png)
            path = data_dir / media.path
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(png)
            previews.append(media)
            media_rows.append(_row("media", media.__dict__ | {"sha256": media.sha256}))
        n_users = max(3, models // 25)
        users = []
        for i in range(n_users):
            uid = start_ids["users"] + i + 1
            name = f"{rng.choice(ADJECTIVES).lower()}{rng.choice(NOUNS).lower()}{uid}"
            avatar = previews[i % len(previews)].sha256 if i % 3 else None
            users.append({"id": uid, "username": name, "image_sha": avatar})
        user_rows = [
            _row(
                "users",
                u | {"password_hash": None, "role": "user", "created_at": USER_CREATED, "model_count": 0},
            )
            for u in users
        ]
        store.bulk_insert({"media": media_rows, "users": user_rows}, [])
        blobs = BlobMaker(data_dir, unique_files, seed)
        ids = dict(start_ids)
        now = datetime.now(UTC)
        span = timedelta(days=3 * 365)
        first = now - span
        for batch_start in range(0, models, batch_size):
            count = min(batch_size, models - batch_start)
            rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in BULK_TABLES}
            model_ids = []
            for k in range(count):
                index = batch_start + k
                published = first + span * (index + rng.random() * 0.5) / max(1, models)
                model_ids.append(
                    _add_model(
                        rng,
                        rows,
                        ids,
                        users,
                        previews,
                        blobs,
                        published,
                        min(now, published + timedelta(days=30)),
                    )
                )
            store.bulk_insert(rows, model_ids)
            if progress:
                progress(f"seeded {batch_start + count}/{models} models")
        store.finish_bulk()
        counts = store.counts()
    finally:
        store.close()
    return {
        "seconds": round(time.perf_counter() - started, 2),
        **counts,
        "uniqueSafetensors": len(blobs.safetensors),
    }


def _add_model(
    rng: random.Random,
    rows: dict[str, list[tuple[Any, ...]]],
    ids: dict[str, int],
    users: list[dict[str, Any]],
    previews: list[NewMedia],
    blobs: BlobMaker,
    published: datetime,
    latest: datetime,
) -> int:
    ids["models"] += 1
    model_id = ids["models"]
    creator = users[
        min(len(users) - 1, int(rng.paretovariate(1.2)) - 1)
        if rng.random() < 0.5
        else rng.randrange(len(users))
    ]
    kind = _weighted(rng, TYPE_WEIGHTS)
    name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
    if rng.random() < 0.5:
        name += f" {rng.choice(('XL', 'v2', 'Mix', 'Style', 'Diffusion', 'Turbo', 'Lite', 'Pro'))}"
    tags = sorted({rng.choice(STYLES) for _ in range(rng.randint(2, 5))} | {kind.lower()})
    nsfw = rng.random() < 0.08
    downloads = int(rng.lognormvariate(5, 2))
    thumbs_up = int(downloads * rng.uniform(0.01, 0.12))
    rating_count = int(thumbs_up * rng.uniform(0.05, 0.3))
    model = {
        "id": model_id,
        "user_id": creator["id"],
        "name": name,
        "description": f"<p>{name} is a {kind} for {', '.join(tags[:3])} pictures.</p><p>Made by {creator['username']}.</p>",
        "type": kind,
        "checkpoint_type": rng.choice(("Standard", "Trained", "Merge")) if kind == "Checkpoint" else None,
        "nsfw": int(nsfw),
        "nsfw_level": 4 if nsfw else 1,
        "poi": 0,
        "minor": 0,
        "allow_no_credit": int(rng.random() < 0.8),
        "allow_commercial_use": json.dumps(
            rng.choice((["Image", "RentCivit"], ["Image"], [], ["Image", "RentCivit", "Rent", "Sell"]))
        ),
        "allow_derivatives": int(rng.random() < 0.85),
        "allow_different_license": int(rng.random() < 0.7),
        "published_at": documents.iso(published),
        "updated_at": documents.iso(latest),
        "download_count": downloads,
        "thumbs_up_count": thumbs_up,
        "thumbs_down_count": int(thumbs_up * rng.uniform(0, 0.03)),
        "comment_count": int(thumbs_up * rng.uniform(0, 0.2)),
        "collected_count": int(thumbs_up * rng.uniform(0.1, 0.6)),
        "tipped_amount_count": int(thumbs_up * rng.uniform(0, 2)),
        "rating": round(rng.uniform(3.5, 5.0), 2) if rating_count else 0.0,
        "rating_count": rating_count,
    }
    base = _weighted(rng, BASE_WEIGHTS)
    n_versions = rng.choices((1, 2, 3, 4), weights=(45, 30, 17, 8))[0]
    version_docs = []
    image_count = 0
    bases = set()
    trained = (
        [f"{name.split()[0].lower()}_{rng.choice(STYLES)}"]
        if kind in ("LORA", "LoCon", "DoRA", "TextualInversion")
        else []
    )
    for position in range(n_versions):
        ids["versions"] += 1
        vid = ids["versions"]
        vbase = base if rng.random() < 0.85 else _weighted(rng, BASE_WEIGHTS)
        bases.add(vbase)
        created = published + (latest - published) * (position / n_versions)
        share = rng.uniform(0.1, 0.6) if position < n_versions - 1 else 1.0
        version = {
            "id": vid,
            "model_id": model_id,
            "position": position,
            "name": f"v{position + 1}.0",
            "description": f"<p>Version {position + 1} of {name}.</p>",
            "base_model": vbase,
            "base_model_type": "Standard" if rng.random() < 0.95 else "Inpainting",
            "trained_words": json.dumps(trained),
            "nsfw_level": 4 if nsfw else 1,
            "created_at": documents.iso(created),
            "updated_at": documents.iso(created),
            "published_at": documents.iso(created),
            "download_count": int(downloads * share / n_versions),
            "thumbs_up_count": int(thumbs_up * share / n_versions),
            "thumbs_down_count": 0,
            "rating": model["rating"],
            "rating_count": int(rating_count / n_versions),
        }
        files = []
        primary = blobs.archive() if kind in EXTENSIONS else blobs.safetensor(kind)
        extension = EXTENSIONS.get(kind, ".safetensors")
        slug = name.replace(" ", "_")
        files.append(
            (primary, f"{slug}_v{position + 1}{extension}", "Model" if kind != "VAE" else "VAE", True)
        )
        if kind == "Checkpoint" and rng.random() < 0.15:
            files.append((blobs.pickled(), f"{slug}_v{position + 1}_pruned.ckpt", "Pruned Model", False))
        file_dicts = []
        for blob, file_name, file_type, is_primary in files:
            ids["files"] += 1
            h = blob.hashes
            fmt = (
                "SafeTensor"
                if file_name.endswith(".safetensors")
                else ("PickleTensor" if file_name.endswith(".ckpt") else "Other")
            )
            file = {
                "id": ids["files"],
                "version_id": vid,
                "name": file_name,
                "type": file_type,
                "format": fmt,
                "fp": blob.fp,
                "size_class": "pruned" if "pruned" in file_name else "full",
                "is_primary": int(is_primary),
                "sha256": h.sha256,
                "pickle_scan_result": blob.pickle[0],
                "pickle_scan_message": blob.pickle[1],
                "virus_scan_result": "Success",
                "scanned_at": version["created_at"],
                "created_at": version["created_at"],
            }
            rows["files"].append(_row("files", file))
            rows["blobs"].append(
                _row(
                    "blobs",
                    {
                        "sha256": h.sha256,
                        "size": h.size,
                        "crc32": h.crc32,
                        "blake3": h.blake3,
                        "autov1": h.autov1,
                        "autov3": h.autov3,
                        "path": blob.path,
                    },
                )
            )
            file_dicts.append(
                file
                | {
                    "size": h.size,
                    "crc32": h.crc32,
                    "blake3": h.blake3,
                    "autov1": h.autov1,
                    "autov3": h.autov3,
                }
            )
        image_dicts = []
        for _ in range(rng.choices((1, 2, 3), weights=(50, 35, 15))[0]):
            ids["images"] += 1
            media = previews[rng.randrange(len(previews))]
            meta = _image_meta(rng, name, kind, vbase, tags, trained, file_dicts[0], vid)
            likes = int(rng.lognormvariate(2, 1.5))
            image = {
                "id": ids["images"],
                "version_id": vid,
                "model_id": model_id,
                "user_id": creator["id"],
                "media_sha": media.sha256,
                "nsfw_level": 4 if nsfw and rng.random() < 0.5 else 1,
                "meta": json.dumps(meta),
                "created_at": version["created_at"],
                "post_id": ids["images"],
                "like_count": likes,
                "heart_count": likes // 3,
                "laugh_count": likes // 20,
                "cry_count": likes // 50,
                "dislike_count": 0,
                "comment_count": likes // 10,
                "collected_count": likes // 5,
            }
            image["reaction_count"] = likes + likes // 3 + likes // 20 + likes // 50
            rows["images"].append(_row("images", image))
            image_dicts.append(
                image | {"width": media.width, "height": media.height, "blurhash": media.blurhash}
            )
        image_count += len(image_dicts)
        rows["versions"].append(_row("versions", version))
        version_docs.append(documents.version_document(model, version, file_dicts, image_dicts))
    version_docs.reverse()  # newest first, as Civitai lists them
    model["image_count"] = image_count
    creator_row = {"username": creator["username"], "image_sha": creator["image_sha"]}
    doc = documents.dumps(documents.model_document(model, creator_row, tags, version_docs))
    rows["models"].append(_row("models", model))
    rows["model_docs"].append((model_id, doc))
    rows["model_tags"] += [(model_id, t) for t in tags]
    rows["model_base_models"] += [(model_id, b) for b in sorted(bases)]
    rows["models_fts"].append((model_id, name, " ".join(tags), creator["username"]))
    return model_id


def _image_meta(
    rng: random.Random,
    name: str,
    kind: str,
    base: str,
    tags: list[str],
    trained: list[str],
    file: dict[str, Any],
    version_id: int,
) -> dict[str, Any]:
    subject = rng.choice(
        (
            "a lighthouse at dusk",
            "a fox in the snow",
            "a city street in the rain",
            "a portrait of a knight",
            "a bowl of ramen",
            "a mountain lake",
            "a robot gardener",
            "a cat on a windowsill",
        )
    )
    words = [*trained, subject, *(t.replace("-", " ") for t in tags[:3]), "highly detailed", "soft light"]
    width, height = rng.choice(((512, 512), (512, 768), (832, 1216), (1024, 1024), (768, 512)))
    return {
        "prompt": ", ".join(words),
        "negativePrompt": "lowres, blurry, bad anatomy, watermark",
        "seed": rng.randrange(2**32),
        "steps": rng.choice((20, 25, 28, 30, 40)),
        "sampler": rng.choice(SAMPLERS),
        "cfgScale": rng.choice((4.5, 5, 6, 7, 7.5)),
        "clipSkip": rng.choice((1, 2)),
        "Size": f"{width}x{height}",
        "Model": name if kind == "Checkpoint" else base,
        "baseModel": base,
        "resources": [{"name": name, "type": kind.lower(), "hash": file["sha256"][:10]}],
        "civitaiResources": [{"type": kind.lower(), "modelVersionId": version_id}],
    }


def main_seed(data_dir: Path, models: int, seed: int, unique_files: int) -> dict[str, Any]:
    result = seed_catalog(data_dir, models, seed=seed, unique_files=unique_files, progress=print)
    rate = models / result["seconds"] if result["seconds"] else math.inf
    print(json.dumps(result | {"modelsPerSecond": round(rate)}))
    return result
