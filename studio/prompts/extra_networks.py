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
