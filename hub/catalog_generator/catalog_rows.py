"""A synthetic catalog in the shape of the hub server's tables: creators, models of every type
with several versions each, their files and preview images with prompts in their meta.

Deterministic from a seed: one `random.Random` drives every choice in a fixed order, so the
same seed, start ids and sources give the same catalog. This module imports nothing of the
server: the caller supplies the model files (`FileSource`, which the server's seed backs with
real small safetensors, pickle and zip files) and the preview images (`PreviewImage`s), turns
the rows into documents and inserts them. Timestamps are `datetime`s; the caller formats them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

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
USER_CREATED = "2023-01-01T00:00:00.000Z"
HISTORY = timedelta(days=3 * 365)  # models are published over the last three years
IMAGE_SUBJECTS = (
    "a lighthouse at dusk",
    "a fox in the snow",
    "a city street in the rain",
    "a portrait of a knight",
    "a bowl of ramen",
    "a mountain lake",
    "a robot gardener",
    "a cat on a windowsill",
)


class FileHashes(Protocol):
    @property
    def sha256(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def crc32(self) -> str: ...
    @property
    def blake3(self) -> str: ...
    @property
    def autov1(self) -> str: ...
    @property
    def autov3(self) -> str | None: ...


class ModelFile(Protocol):
    """A stored model file: its hashes, where it lies, its precision and pickle scan."""

    @property
    def hashes(self) -> FileHashes: ...
    @property
    def path(self) -> str: ...
    @property
    def fp(self) -> str | None: ...
    @property
    def pickle(self) -> tuple[str, str]: ...  # (scan result, scan message)


class FileSource(Protocol):
    """Hands out model files; called in catalog order, so it may reuse files deterministically."""

    def safetensor(self, kind: str) -> ModelFile: ...
    def pickled(self) -> ModelFile: ...
    def archive(self) -> ModelFile: ...


class PreviewImage(Protocol):
    @property
    def sha256(self) -> str: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def blurhash(self) -> str: ...


@dataclass
class GeneratedVersion:
    row: dict[str, Any]  # `versions` columns
    # `files` columns plus their file's hashes (size, crc32, blake3, autov1, autov3) and path
    files: list[dict[str, Any]]
    # `images` columns plus their preview's width, height and blurhash
    images: list[dict[str, Any]]


@dataclass
class GeneratedModel:
    row: dict[str, Any]  # `models` columns
    creator: dict[str, Any]  # the creator's `users` row
    tags: list[str]
    base_models: list[str]  # sorted
    versions: list[GeneratedVersion]  # oldest first


def weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class CatalogRowGenerator:
    """`users` (made at construction: `users` of them, default one per 25 models) and then
    `models()`: the rows of `models` new models.

    Ids continue from `start_ids` (the largest id of each table), so a catalog can be grown in
    several runs. `now` ends the publishing period.
    """

    def __init__(
        self,
        *,
        seed: int,
        models: int,
        start_ids: dict[str, int],
        previews: Sequence[PreviewImage],
        files: FileSource,
        now: datetime,
        users: int | None = None,
    ) -> None:
        self.rng = random.Random(seed)
        self.model_total = models
        self.ids = dict(start_ids)
        self.previews = previews
        self.files = files
        self.now = now
        self.users = self._users(max(3, models // 25) if users is None else max(1, users))

    def _users(self, count: int) -> list[dict[str, Any]]:
        rng = self.rng
        users = []
        for i in range(count):
            uid = self.ids["users"] + i + 1
            name = f"{rng.choice(ADJECTIVES).lower()}{rng.choice(NOUNS).lower()}{uid}"
            avatar = self.previews[i % len(self.previews)].sha256 if i % 3 else None
            users.append(
                {
                    "id": uid,
                    "username": name,
                    "image_sha": avatar,
                    "password_hash": None,
                    "role": "user",
                    "created_at": USER_CREATED,
                    "model_count": 0,
                }
            )
        return users

    def models(self) -> Iterator[GeneratedModel]:
        first = self.now - HISTORY
        for index in range(self.model_total):
            # the fraction first: HISTORY * index overflows timedelta past ~900,000 models
            published = first + HISTORY * ((index + self.rng.random() * 0.5) / max(1, self.model_total))
            yield self._model(published, min(self.now, published + timedelta(days=30)))

    def _model(self, published: datetime, latest: datetime) -> GeneratedModel:
        rng, ids, users = self.rng, self.ids, self.users
        ids["models"] += 1
        model_id = ids["models"]
        creator = users[
            min(len(users) - 1, int(rng.paretovariate(1.2)) - 1)
            if rng.random() < 0.5
            else rng.randrange(len(users))
        ]
        kind = weighted(rng, TYPE_WEIGHTS)
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
            "published_at": published,
            "updated_at": latest,
            "download_count": downloads,
            "thumbs_up_count": thumbs_up,
            "thumbs_down_count": int(thumbs_up * rng.uniform(0, 0.03)),
            "comment_count": int(thumbs_up * rng.uniform(0, 0.2)),
            "collected_count": int(thumbs_up * rng.uniform(0.1, 0.6)),
            "tipped_amount_count": int(thumbs_up * rng.uniform(0, 2)),
            "rating": round(rng.uniform(3.5, 5.0), 2) if rating_count else 0.0,
            "rating_count": rating_count,
        }
        base = weighted(rng, BASE_WEIGHTS)
        n_versions = rng.choices((1, 2, 3, 4), weights=(45, 30, 17, 8))[0]
        versions = []
        bases = set()
        trained = (
            [f"{name.split()[0].lower()}_{rng.choice(STYLES)}"]
            if kind in ("LORA", "LoCon", "DoRA", "TextualInversion")
            else []
        )
        for position in range(n_versions):
            ids["versions"] += 1
            vid = ids["versions"]
            vbase = base if rng.random() < 0.85 else weighted(rng, BASE_WEIGHTS)
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
                "created_at": created,
                "updated_at": created,
                "published_at": created,
                "download_count": int(downloads * share / n_versions),
                "thumbs_up_count": int(thumbs_up * share / n_versions),
                "thumbs_down_count": 0,
                "rating": model["rating"],
                "rating_count": int(rating_count / n_versions),
            }
            files = self._files(version, kind, name, position)
            images = []
            for _ in range(rng.choices((1, 2, 3), weights=(50, 35, 15))[0]):
                ids["images"] += 1
                media = self.previews[rng.randrange(len(self.previews))]
                meta = _image_meta(rng, name, kind, vbase, tags, trained, files[0], vid)
                likes = int(rng.lognormvariate(2, 1.5))
                image = {
                    "id": ids["images"],
                    "version_id": vid,
                    "model_id": model_id,
                    "user_id": creator["id"],
                    "media_sha": media.sha256,
                    "nsfw_level": 4 if nsfw and rng.random() < 0.5 else 1,
                    "meta": json.dumps(meta),
                    "created_at": created,
                    "post_id": ids["images"],
                    "like_count": likes,
                    "heart_count": likes // 3,
                    "laugh_count": likes // 20,
                    "cry_count": likes // 50,
                    "dislike_count": 0,
                    "comment_count": likes // 10,
                    "collected_count": likes // 5,
                    "reaction_count": likes + likes // 3 + likes // 20 + likes // 50,
                }
                images.append(
                    image | {"width": media.width, "height": media.height, "blurhash": media.blurhash}
                )
            versions.append(GeneratedVersion(version, files, images))
        model["image_count"] = sum(len(v.images) for v in versions)
        return GeneratedModel(model, creator, tags, sorted(bases), versions)

    def _files(self, version: dict[str, Any], kind: str, name: str, position: int) -> list[dict[str, Any]]:
        """The primary file of a version (and, for some checkpoints, a pruned pickle)."""
        primary = self.files.archive() if kind in EXTENSIONS else self.files.safetensor(kind)
        extension = EXTENSIONS.get(kind, ".safetensors")
        slug = name.replace(" ", "_")
        chosen = [(primary, f"{slug}_v{position + 1}{extension}", "Model" if kind != "VAE" else "VAE", True)]
        if kind == "Checkpoint" and self.rng.random() < 0.15:
            chosen.append(
                (self.files.pickled(), f"{slug}_v{position + 1}_pruned.ckpt", "Pruned Model", False)
            )
        files = []
        for stored, file_name, file_type, is_primary in chosen:
            self.ids["files"] += 1
            h = stored.hashes
            fmt = (
                "SafeTensor"
                if file_name.endswith(".safetensors")
                else ("PickleTensor" if file_name.endswith(".ckpt") else "Other")
            )
            files.append(
                {
                    "id": self.ids["files"],
                    "version_id": version["id"],
                    "name": file_name,
                    "type": file_type,
                    "format": fmt,
                    "fp": stored.fp,
                    "size_class": "pruned" if "pruned" in file_name else "full",
                    "is_primary": int(is_primary),
                    "sha256": h.sha256,
                    "pickle_scan_result": stored.pickle[0],
                    "pickle_scan_message": stored.pickle[1],
                    "virus_scan_result": "Success",
                    "scanned_at": version["created_at"],
                    "created_at": version["created_at"],
                    "size": h.size,
                    "crc32": h.crc32,
                    "blake3": h.blake3,
                    "autov1": h.autov1,
                    "autov3": h.autov3,
                    "path": stored.path,
                }
            )
        return files


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
    subject = rng.choice(IMAGE_SUBJECTS)
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
