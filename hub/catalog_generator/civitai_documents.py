"""Civitai API JSON documents of a synthetic catalog (deterministic from a seed), the shape a
mirror receives: for the local hub's benchmarks and tests."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

TYPES = ("Checkpoint", "LORA", "LoCon", "TextualInversion", "VAE", "DoRA")
TYPE_WEIGHTS = (25, 45, 10, 10, 3, 7)
BASE_MODELS = ("SD 1.5", "SDXL 1.0", "Pony", "Flux.1 D", "SD 2.1", "Illustrious")
TAGS = [
    "anime",
    "character",
    "style",
    "realistic",
    "portrait",
    "landscape",
    "concept",
    "clothing",
    "fantasy",
    "scifi",
    "photography",
    "architecture",
    "vehicle",
    "animal",
    "food",
    "horror",
    "cartoon",
    "pixel",
    "watercolor",
]
SUBJECTS = [
    "dragon",
    "knight",
    "castle",
    "forest",
    "city",
    "robot",
    "witch",
    "samurai",
    "ocean",
    "mountain",
    "flower",
    "cyberpunk",
    "steampunk",
    "vintage",
    "neon",
    "pastel",
    "gothic",
    "tarot",
    "mecha",
    "elf",
    "goblin",
    "wizard",
    "princess",
    "warrior",
    "sunset",
    "winter",
    "autumn",
    "desert",
    "jungle",
    "temple",
    "street",
    "cafe",
    "kitchen",
    "library",
    "garden",
]
STYLE = [
    "detailed",
    "cinematic",
    "soft",
    "sharp",
    "moody",
    "vibrant",
    "dreamy",
    "painterly",
    "glossy",
    "matte",
    "grainy",
    "retro",
    "minimal",
    "ornate",
    "dramatic",
    "gentle",
    "luminous",
    "dark",
    "bright",
    "smooth",
    "rough",
    "crisp",
]
FILLER = [
    "this",
    "model",
    "was",
    "trained",
    "on",
    "a",
    "curated",
    "dataset",
    "of",
    "images",
    "and",
    "works",
    "best",
    "with",
    "the",
    "recommended",
    "settings",
    "use",
    "a",
    "weight",
    "between",
    "and",
    "for",
    "best",
    "results",
    "it",
    "can",
    "be",
    "combined",
    "with",
    "other",
    "models",
    "try",
    "different",
    "samplers",
    "clip",
    "skip",
    "helps",
    "prompts",
    "should",
    "describe",
    "the",
    "scene",
    "lighting",
    "composition",
    "colour",
    "palette",
    "mood",
    "and",
    "camera",
    "angle",
    "version",
    "improves",
    "hands",
    "faces",
    "backgrounds",
    "consistency",
    "thanks",
    "to",
    "everyone",
    "who",
    "tested",
    "early",
    "builds",
    "feedback",
    "welcome",
]


def _words(rng: random.Random, count: int) -> list[str]:
    vocabulary = SUBJECTS + STYLE + FILLER * 3
    words = []
    for _ in range(count):
        if rng.random() < 0.03:  # a long tail of rare words, as real descriptions have
            words.append(f"{rng.choice(SUBJECTS)}{rng.randint(1, 5000)}")
        else:
            words.append(rng.choice(vocabulary))
    return words


def sample_model(model_id: int, seed: int = 0, base_url: str = "http://127.0.0.1") -> dict[str, Any]:
    rng = random.Random(seed * 1_000_003 + model_id)
    kind = rng.choices(TYPES, TYPE_WEIGHTS)[0]
    name_words = [rng.choice(STYLE), rng.choice(SUBJECTS), rng.choice(SUBJECTS)]
    name = " ".join(w.capitalize() for w in name_words) + f" {kind} v{rng.randint(1, 9)}"
    creator = f"artist{rng.randint(1, 2000)}"
    downloads = int(rng.paretovariate(1.2) * 50)
    versions = []
    for index in range(rng.choice((1, 1, 2, 3))):
        version_id = model_id * 10 + index
        sha = f"{rng.getrandbits(256):064X}"
        versions.append(
            {
                "id": version_id,
                "modelId": model_id,
                "name": f"v{index + 1}.0",
                "createdAt": f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T10:00:00.000Z",
                "publishedAt": f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T12:00:00.000Z",
                "updatedAt": "2025-12-01T00:00:00.000Z",
                "trainedWords": [rng.choice(SUBJECTS) + "_style"] if kind != "Checkpoint" else [],
                "baseModel": rng.choice(BASE_MODELS),
                "baseModelType": "Standard",
                "description": None,
                "stats": {"downloadCount": downloads // (index + 1), "ratingCount": 0, "rating": 0},
                "files": [
                    {
                        "id": version_id * 10,
                        "sizeKB": 1024.0,
                        "name": f"{name_words[1]}_{version_id}.safetensors",
                        "type": "Model",
                        "metadata": {"fp": "fp16", "size": "pruned", "format": "SafeTensor"},
                        "pickleScanResult": "Success",
                        "virusScanResult": "Success",
                        "scannedAt": "2025-12-01T00:00:00.000Z",
                        "hashes": {"SHA256": sha, "AutoV2": sha[:10], "CRC32": sha[:8]},
                        "primary": True,
                        "downloadUrl": f"{base_url}/api/download/models/{version_id}",
                    }
                ],
                "images": [
                    {
                        "url": f"{base_url}/images/{version_id}-{n}.png",
                        "nsfwLevel": 1,
                        "width": 64,
                        "height": 64,
                        "hash": "U00000fQfQfQfQfQfQfQfQfQfQfQ",
                        "type": "image",
                    }
                    for n in range(2)
                ],
                "downloadUrl": f"{base_url}/api/download/models/{version_id}",
            }
        )
    return {
        "id": model_id,
        "name": name,
        "description": "<p>" + " ".join(_words(rng, rng.randint(40, 150))) + "</p>",
        "type": kind,
        "poi": False,
        "nsfw": rng.random() < 0.1,
        "nsfwLevel": 1,
        "allowNoCredit": True,
        "allowCommercialUse": ["Image"],
        "allowDerivatives": True,
        "allowDifferentLicense": True,
        "stats": {
            "downloadCount": downloads,
            "favoriteCount": downloads // 10,
            "commentCount": rng.randint(0, 50),
            "ratingCount": rng.randint(0, 200),
            "rating": round(rng.uniform(3.0, 5.0), 2),
            "thumbsUpCount": downloads // 7,
            "thumbsDownCount": 0,
            "tippedAmountCount": 0,
        },
        "creator": {"username": creator, "image": None},
        "tags": rng.sample(TAGS, rng.randint(1, 4)),
        "modelVersions": versions,
    }


def sample_catalog(count: int, seed: int = 0, start: int = 1) -> Iterator[dict[str, Any]]:
    for model_id in range(start, start + count):
        yield sample_model(model_id, seed)
