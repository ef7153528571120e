"""Extra-network tags in a prompt: `<lora:name:0.8>`, `<lyco:name:1:0.5>`, `<hypernet:...>`.

A1111 semantics (modules/extra_networks.py): a tag is `<kind:arg1:arg2...>` where kind is a word
and the arguments are everything up to the closing `>`, split on `:`. Tags are removed from the
prompt text before it is encoded; each is returned with its kind and arguments in prompt order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TAG = re.compile(r"<(\w+):([^>]+)>")


@dataclass(frozen=True)
class NetworkTag:
    kind: str  # "lora", "lyco", "hypernet", ... as written (A1111 treats lyco as lora)
    args: tuple[str, ...]  # e.g. ("detail_tweaker", "0.6") or ("name", "1", "0.5")

    @property
    def name(self) -> str:
        return self.args[0]

    @property
    def text(self) -> str:
        return f"<{self.kind}:{':'.join(self.args)}>"


def extract_network_tags(prompt: str) -> tuple[str, list[NetworkTag]]:
    """The prompt with every tag removed, and the tags in the order they appear."""
    tags: list[NetworkTag] = []

    def take(match: re.Match[str]) -> str:
        tags.append(NetworkTag(match.group(1), tuple(match.group(2).split(":"))))
        return ""

    return TAG.sub(take, prompt), tags


LORA_KINDS = ("lora", "lyco")  # A1111 treats <lyco:...> as <lora:...>
LORA_NAMED = ("te", "unet", "dyn")


@dataclass(frozen=True)
class LoraWeights:
    """What one `<lora:...>` tag asks for, with A1111's rules: `<lora:name>` (weight 1),
    `<lora:name:w>` (text encoder and UNet at w), `<lora:name:te:unet>`, an optional fourth
    positional `dyn` (use only the first dyn ranks), or the named forms `te=`, `unet=`, `dyn=`."""

    name: str
    te: float
    unet: float
    dyn: int | None = None


class TagError(ValueError):
    """A tag whose arguments cannot be read; the message names the tag."""


def lora_weights(tag: NetworkTag) -> LoraWeights:
    """The weights of a `<lora:...>` / `<lyco:...>` tag; TagError naming the tag when an
    argument is not a number, is unknown, or there are too many."""
    positional: list[str] = []
    named: dict[str, str] = {}
    for item in tag.args[1:]:
        key, equals, value = item.partition("=")
        if equals:
            key = key.strip()
            if key not in LORA_NAMED:
                raise TagError(f"{tag.text}: unknown argument {key!r} (known: {', '.join(LORA_NAMED)})")
            named[key] = value.strip()
        else:
            positional.append(item.strip())
    if len(positional) > 3:
        raise TagError(f"{tag.text}: too many arguments (at most <{tag.kind}:name:te:unet:dyn>)")
    name = tag.name.strip()
    if not name:
        raise TagError(f"{tag.text}: the name is empty")
    te = _number(tag, "te", named.get("te", positional[0] if positional else "1"))
    unet_text = named.get("unet", positional[1] if len(positional) > 1 else None)
    unet = te if unet_text is None else _number(tag, "unet", unet_text)
    dyn_text = named.get("dyn", positional[2] if len(positional) > 2 else None)
    dyn = None
    if dyn_text is not None:
        try:
            dyn = int(dyn_text)
        except ValueError:
            raise TagError(f"{tag.text}: dyn must be a whole number of ranks, not {dyn_text!r}") from None
        if dyn < 1:
            raise TagError(f"{tag.text}: dyn must be at least 1, not {dyn}")
    return LoraWeights(name, te, unet, dyn)


def _number(tag: NetworkTag, what: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TagError(f"{tag.text}: the {what} weight must be a number, not {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise TagError(f"{tag.text}: the {what} weight must be a finite number, not {text!r}")
    return value
