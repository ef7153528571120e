"""What creators may put in the text of a model: no markup in names, sanitised HTML in descriptions.

Names, tags, trigger words and image generation parameters are plain text: HTML tags are
stripped (with the content of `<script>` and `<style>`), character references are decoded, and
this repeats until nothing changes, so text escaped several times cannot come back as a tag.
`<script>alert(1)</script>Ink` is stored as `Ink`, `Tom &amp; Jerry` as `Tom & Jerry`, and
`a < b` stays. Prompt text (trigger words, image meta) keeps A1111's extra-network tags
(`<lora:name:0.8>`): a `<word:...>` without quotes or `=` cannot carry an attribute.
Descriptions stay HTML, cleaned by nh3's allow-list.
"""

from __future__ import annotations

import html
import re
from typing import Any

import nh3

MAX_ROUNDS = 8
EXTRA_NETWORK = re.compile(r"<\w+:[^<>=\"'`]+>")


class MarkupRejected(ValueError):
    """Text escaped more deeply than any real name is."""


def clean_html(text: str | None) -> str | None:
    """A description: HTML limited to nh3's allow-list (no scripts, handlers or styles)."""
    return nh3.clean(text) if text else text


def plain_text(text: str) -> str:
    """`text` without HTML tags or character references (see the module docstring)."""
    for _ in range(MAX_ROUNDS):
        cleaned = html.unescape(nh3.clean(text, tags=set()))
        if cleaned == text:
            return cleaned
        text = cleaned
    raise MarkupRejected("HTML escaped too many times")


def prompt_text(text: str) -> str:
    """Plain text that keeps A1111 extra-network tags such as `<lora:ink:0.8>`."""
    parts: list[str] = []
    last = 0
    for match in EXTRA_NETWORK.finditer(text):
        parts += [plain_text(text[last : match.start()]), match.group(0)]
        last = match.end()
    parts.append(plain_text(text[last:]))
    return "".join(parts)


def prompt_values(value: Any) -> Any:
    """Every string inside image meta (a JSON value) as prompt text."""
    if isinstance(value, str):
        return prompt_text(value)
    if isinstance(value, list):
        return [prompt_values(v) for v in value]
    if isinstance(value, dict):
        return {k: prompt_values(v) for k, v in value.items()}
    return value
