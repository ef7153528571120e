"""Composable prompts: `a castle AND a forest:0.7`.

A1111 (modules/prompt_parser.py `get_multicond_prompt_list`) splits the positive prompt on the
word `AND` (upper case, a whole word) and reads an optional `:weight` at the end of each part.
Each part is conditioned separately and the guidance is the weighted sum of their directions,
so a single part with a weight (`a castle :1.5`) scales the guidance by that weight.
The negative prompt is never split.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_AND = re.compile(r"\bAND\b")
_TRAILING_WEIGHT = re.compile(r"^([\s\S]*?)(?:\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+)))?\s*$")


@dataclass(frozen=True)
class SubPrompt:
    text: str
    weight: float


def split_composable(prompt: str) -> list[SubPrompt]:
    """The parts of a positive prompt with their weights (one part when there is no AND)."""
    parts: list[SubPrompt] = []
    for part in _AND.split(prompt):
        match = _TRAILING_WEIGHT.search(part)
        assert match is not None  # every part of the pattern is optional
        text, weight = match.groups()
        parts.append(SubPrompt(text, 1.0 if weight is None else float(weight)))
    return parts
