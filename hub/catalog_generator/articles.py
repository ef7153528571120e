"""Synthetic articles (guides, workflow write-ups), deterministic from a seed: their text for the
server's seed (`GeneratedArticle`, Markdown) and whole Civitai article objects for the local
hub's tests and benchmark (`sample_article`, the shape a mirror receives). Standard library only.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

ARTICLE_TAGS = (
    "guide",
    "workflow",
    "training",
    "lora",
    "sdxl",
    "tips",
    "prompting",
    "comfyui",
    "inpainting",
    "lighting",
    "anatomy",
    "landscape",
    "portrait",
    "upscaling",
    "controlnet",
    "news",
)
TOPICS = (
    "training a {subject} LoRA on {count} images",
    "lighting {subject} scenes at dusk",
    "prompting for {subject} portraits",
    "inpainting {subject} details without seams",
    "upscaling {subject} renders to 4K",
    "a ComfyUI workflow for {subject} art",
    "choosing a sampler for {subject} images",
    "what {count} steps buys you with {subject} prompts",
)
SUBJECTS = (
    "watercolor",
    "cyberpunk",
    "fantasy castle",
    "ink sketch",
    "pixel art",
    "dragon",
    "botanical",
    "noir",
    "lowpoly",
    "anime",
    "oil painting",
    "steampunk",
    "underwater",
    "desert",
    "forest spirit",
    "mecha",
)
OPENINGS = ("A guide to", "Notes on", "How I approach", "Lessons from", "Field notes:", "Deep dive:")
WORDS = (
    "the",
    "model",
    "prompt",
    "weight",
    "light",
    "colour",
    "shadow",
    "detail",
    "steps",
    "sampler",
    "noise",
    "seed",
    "composition",
    "texture",
    "contrast",
    "style",
    "subject",
    "background",
    "focus",
    "dataset",
    "epoch",
    "rank",
    "learning",
    "rate",
    "caption",
    "token",
    "scale",
    "guidance",
    "mask",
    "denoise",
    "upscale",
    "tile",
    "palette",
    "brush",
    "edge",
    "depth",
    "pose",
    "hand",
    "face",
    "sky",
)
HISTORY = timedelta(days=2 * 365)


@dataclass(frozen=True)
class GeneratedArticle:
    title: str
    paragraphs: tuple[str, ...]
    tips: tuple[str, ...]
    tags: tuple[str, ...]
    nsfw: bool
    published: datetime

    def markdown(self) -> str:
        body = [
            self.paragraphs[0],
            "## What worked",
            *(f"- {t}" for t in self.tips),
            "",
            *self.paragraphs[1:],
        ]
        return "\n\n".join(line for line in body if line) + "\n"

    def html(self) -> str:
        tips = "".join(f"<li>{t}</li>" for t in self.tips)
        rest = "".join(f"<p>{p}</p>" for p in self.paragraphs[1:])
        return f"<p>{self.paragraphs[0]}</p><h2>What worked</h2><ul>{tips}</ul>{rest}"


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def generate_articles(seed: int, now: datetime | None = None) -> Iterator[GeneratedArticle]:
    """An endless stream of articles, the same for the same seed."""
    rng = random.Random(f"articles-{seed}")
    now = now or datetime(2026, 1, 1, tzinfo=UTC)
    while True:
        subject = rng.choice(SUBJECTS)
        topic = rng.choice(TOPICS).format(subject=subject, count=rng.choice((12, 20, 30, 50, 80)))
        title = f"{rng.choice(OPENINGS)} {topic}"
        paragraphs = tuple(
            " ".join(_sentence(rng, rng.randint(6, 14)) for _ in range(rng.randint(2, 4)))
            for _ in range(rng.randint(2, 4))
        )
        tips = tuple(_sentence(rng, rng.randint(4, 8)) for _ in range(rng.randint(2, 4)))
        tags = tuple(rng.sample(ARTICLE_TAGS, rng.randint(1, 4)))
        published = now - HISTORY * rng.random()
        yield GeneratedArticle(title, paragraphs, tips, tags, rng.random() < 0.08, published)


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def sample_article(
    article_id: int, generated: GeneratedArticle, username: str, base_url: str = "http://127.0.0.1"
) -> dict[str, Any]:
    """A published article as `GET /api/v1/articles/{id}` returns it."""
    rng = random.Random(article_id)
    stamp = _iso(generated.published)
    return {
        "id": article_id,
        "title": generated.title,
        "status": "Published",
        "availability": "Public",
        "nsfw": generated.nsfw,
        "nsfwLevel": 4 if generated.nsfw else 1,
        "createdAt": stamp,
        "updatedAt": stamp,
        "publishedAt": stamp,
        "user": {"id": rng.randint(1, 10_000), "username": username, "image": None},
        "tags": [{"id": ARTICLE_TAGS.index(t) + 1, "name": t, "isCategory": False} for t in generated.tags],
        "coverImage": None,
        "stats": {
            "viewCount": rng.randint(0, 50_000),
            "collectedCount": rng.randint(0, 500),
            "commentCount": 0,
        },
        "models": [],
        "contentFormat": "html",
        "link": f"{base_url}/api/v1/articles/{article_id}",
        "content": generated.html(),
    }


def sample_articles(count: int, seed: int = 0, start: int = 1) -> Iterator[dict[str, Any]]:
    """`count` article objects with ids from `start`, by a few dozen authors."""
    texts = generate_articles(seed)
    for offset in range(count):
        article_id = start + offset
        yield sample_article(article_id, next(texts), f"author{article_id % 97:02d}")
