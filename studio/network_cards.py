"""The cards of the Extra Networks panel and of `/studio/v1/networks`: one per checkpoint, LoRA,
embedding and wildcard, with what the model's sidecar files say and the text a click adds.

What a click adds follows A1111's Extra Networks pages:
- a LoRA: `<lora:NAME:WEIGHT>` (NAME the bare file name, WEIGHT the sidecar's preferred weight,
  else 1), then its trigger words; its negative text goes to the negative prompt as `(TEXT:1)`;
- an embedding: its name (into whichever prompt box was used last);
- a wildcard: `__name__`;
- a checkpoint adds nothing: a click selects it.
No torch and no web framework here; entries come from the engine's model registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.request import RequestError

if TYPE_CHECKING:
    from studio.engine_view import ModelCatalog, ModelEntryView
    from studio.prompts.wildcards import WildcardLibrary

KINDS = ("checkpoint", "lora", "embedding", "wildcard")
LABELS = {"checkpoint": "Checkpoints", "lora": "LoRA", "embedding": "Embeddings", "wildcard": "Wildcards"}
WILDCARD_SAMPLE = 5


def format_weight(weight: float) -> str:
    """A weight as a prompt writes it: 1, 0.6, 1.25."""
    return f"{weight:g}"


@dataclass(frozen=True)
class NetworkCard:
    kind: str  # checkpoint | lora | embedding | wildcard
    name: str  # what the prompt calls it: the bare file name (A1111), or the wildcard name
    title: str  # the checkpoint title a click selects; the file's path in its folder otherwise
    prompt: str = ""  # what a click adds to the prompt
    negative_prompt: str = ""  # what a click adds to the negative prompt
    weight: float | None = None
    trigger_words: str = ""
    description: str = ""
    notes: str = ""
    base_model: str = ""
    civitai_name: str = ""
    preview: Path | None = None
    errors: tuple[str, ...] = ()

    def matches(self, query: str) -> bool:
        """Every word of `query` appears in the name, path, trigger words or description."""
        text = " ".join(
            (self.name, self.title, self.trigger_words, self.description, self.civitai_name, self.notes)
        ).lower()
        return all(word in text for word in query.lower().split())

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "title": self.title,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "weight": self.weight,
            "trigger_words": self.trigger_words,
            "description": self.description,
            "notes": self.notes,
            "base_model": self.base_model,
            "civitai_name": self.civitai_name,
            "has_preview": self.preview is not None,
            "errors": list(self.errors),
        }


def model_card(kind: str, entry: ModelEntryView) -> NetworkCard:
    """The card of a registry entry (checkpoint, lora or embedding)."""
    sidecar = entry.sidecar
    trigger = sidecar.trigger_words
    prompt = negative = ""
    weight = None
    if kind == "lora":
        weight = sidecar.weight
        prompt = f"<lora:{entry.short_name}:{format_weight(weight)}>" + (f" {trigger}" if trigger else "")
        negative = f"({sidecar.negative_text}:1)" if sidecar.negative_text else ""
    elif kind == "embedding":
        prompt = entry.short_name
    return NetworkCard(
        kind=kind,
        name=entry.short_name,
        title=entry.title if kind == "checkpoint" else entry.name,
        prompt=prompt,
        negative_prompt=negative,
        weight=weight,
        trigger_words=trigger,
        description=sidecar.description,
        notes=sidecar.notes,
        base_model=sidecar.base_model or sidecar.sd_version,
        civitai_name=sidecar.civitai_name,
        preview=sidecar.preview,
        errors=sidecar.errors,
    )


def wildcard_cards(library: WildcardLibrary) -> list[NetworkCard]:
    cards = []
    for name in library.names():
        values = library.values(name)
        sample = ", ".join(values[:WILDCARD_SAMPLE]) + (", …" if len(values) > WILDCARD_SAMPLE else "")
        cards.append(
            NetworkCard(
                kind="wildcard",
                name=name,
                title=f"{name}.txt",
                prompt=f"__{name}__",
                description=f"{len(values)} values: {sample}" if values else "no values",
            )
        )
    return cards


def cards_for(kind: str, registry: ModelCatalog, wildcards: WildcardLibrary) -> list[NetworkCard]:
    """The cards of one kind (RequestError naming `kind` when it is not one of KINDS)."""
    if kind not in KINDS:
        raise RequestError("kind", f"unknown kind {kind!r}; choose one of: {', '.join(KINDS)}")
    if kind == "wildcard":
        return wildcard_cards(wildcards.fresh())
    lists = {"checkpoint": registry.checkpoints, "lora": registry.loras, "embedding": registry.embeddings}
    return [model_card(kind, entry) for entry in lists[kind]()]


def find_card(cards: Sequence[NetworkCard], name: str) -> NetworkCard | None:
    """The card named `name` (its name or title)."""
    return next((card for card in cards if name in (card.name, card.title)), None)
