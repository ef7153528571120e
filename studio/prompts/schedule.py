"""Prompt editing and alternation: `[from:to:when]`, `[to:when]`, `[from::when]`, `[a|b|c]`.

A1111 semantics (modules/prompt_parser.py, "new" timelines, no hires pass): a prompt is parsed
into plain text, whitespace, emphasis groups `(...)`, `(...:...)`, `[...]` (kept as typed, the
attention parser reads them later), scheduled parts and alternations. Brackets, parentheses and
colons that belong to no construct are kept as text at the top level. When the prompt cannot be
parsed at all (a `|` outside an alternation, a lone trailing backslash) it is used as typed, with
no schedule.

`when` is a step number (`3`) or, when written with a decimal point, a fraction of the steps
(`0.25`, `1.0` = all of them), truncated to an integer and capped at the step count. A
scheduled part shows `from` (or nothing) for steps `1..when` and `to` after; an alternation
shows its option `(step - 1) % n` at step `step`. `prompt_schedule` returns the distinct texts
with the last step each one lasts to, like A1111's `[[end_at_step, text], ...]`.

Steps here count the way A1111's sampler asks for them: the text for sampling step `k`
(0-based: the k-th model evaluation) is the first entry whose `end_at_step >= k`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

# A1111's grammar uses lark's SIGNED_NUMBER: sign, digits, optional fraction, optional exponent.
_NUMBER = r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?"
_WHEN = re.compile(rf"\s*({_NUMBER})\s*\]")
_PLAIN = re.compile(r"(?:[^\\\[\]():|]|\\.)+")
_STRAY = "[]():"
_STRAY_RUN = re.compile(r"[\[\]():]+")


@dataclass(frozen=True)
class ScheduledText:
    end_at_step: int
    text: str


# The parse tree: a node is a str (text kept as typed) or one of these.
@dataclass(frozen=True)
class _Group:
    """A sequence of nodes (a prompt, or an emphasis group with its brackets as text nodes)."""

    parts: tuple[object, ...]


@dataclass(frozen=True)
class _Scheduled:
    before: _Group | None
    after: _Group
    number: str  # as typed; its meaning depends on whether it has a decimal point
    end: int  # position just after its closing bracket
    when: int = 0  # resolved for a step count by `_resolve`


@dataclass(frozen=True)
class _Alternate:
    options: tuple[_Group, ...]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text

    def start(self) -> _Group | None:
        """The top level: prompt parts, and stray brackets or colons kept as text."""
        parts: list[object] = []
        pos = 0
        while pos < len(self.text):
            parsed = self.element(pos)
            if parsed is not None and not self._lark_rejects(parsed[0]):
                node, pos = parsed
                parts.append(node)
            elif self.text[pos] in _STRAY:
                parts.append(self.text[pos])
                pos += 1
            else:
                return None  # a `|` outside an alternation, or a lone trailing backslash
        return _Group(tuple(parts))

    def _lark_rejects(self, node: object) -> bool:
        if isinstance(node, _Alternate):
            return False
        if isinstance(node, _Group):
            return any(self._lark_rejects(part) for part in node.parts)
        if isinstance(node, _Scheduled):
            run = _STRAY_RUN.match(self.text, node.end - 1)
            assert run is not None
            length = run.end() - run.start()
            if length >= 3 and length % 2:
                return True
            return any(self._lark_rejects(part) for part in (node.before, node.after) if part is not None)
        return False

    def prompt(self, pos: int) -> tuple[_Group, int]:
        """As many elements as follow (possibly none)."""
        parts: list[object] = []
        while (parsed := self.element(pos)) is not None:
            node, pos = parsed
            parts.append(node)
        return _Group(tuple(parts)), pos

    def element(self, pos: int) -> tuple[object, int] | None:
        if pos >= len(self.text):
            return None
        char = self.text[pos]
        if char == "(":
            return self.round(pos)
        if char == "[":
            return self.square(pos)
        match = _PLAIN.match(self.text, pos)
        if match is None:
            return None
        return match.group(0), match.end()

    def round(self, pos: int) -> tuple[object, int] | None:
        inner, end = self.prompt(pos + 1)
        parts: list[object] = ["(", inner]
        if self._at(end, ":"):
            weight, end = self.prompt(end + 1)
            parts += [":", weight]
        if not self._at(end, ")"):
            return None
        return _Group((*parts, ")")), end + 1

    def square(self, pos: int) -> tuple[object, int] | None:
        first, end = self.prompt(pos + 1)
        if self._at(end, "]"):
            return _Group(("[", first, "]")), end + 1
        if self._at(end, "|"):
            options = [first]
            while self._at(end, "|"):
                option, end = self.prompt(end + 1)
                options.append(option)
            if not self._at(end, "]"):
                return None
            return _Alternate(tuple(options)), end + 1
        if not self._at(end, ":"):
            return None
        when = _WHEN.match(self.text, end + 1)
        if when is not None:  # [to:when]
            return _Scheduled(None, first, when.group(1), when.end()), when.end()
        second, end = self.prompt(end + 1)
        if not self._at(end, ":"):
            return None
        when = _WHEN.match(self.text, end + 1)
        if when is None:
            return None
        return _Scheduled(first, second, when.group(1), when.end()), when.end()

    def _at(self, pos: int, char: str) -> bool:
        return pos < len(self.text) and self.text[pos] == char


def _when(number: str, steps: int) -> int:
    value = float(number)
    if "." in number:
        value *= steps
    if math.isnan(value) or value >= steps:
        return steps
    return max(int(value), -1)


def _resolve(node: object, steps: int, boundaries: set[int]) -> object:
    """The tree with every `when` resolved for `steps`; collects the steps where text changes."""
    if isinstance(node, _Group):
        return _Group(tuple(_resolve(part, steps, boundaries) for part in node.parts))
    if isinstance(node, _Scheduled):
        when = _when(node.number, steps)
        if when >= 1:
            boundaries.add(when)
        before = None if node.before is None else _resolve(node.before, steps, boundaries)
        return _Scheduled(before, _resolve(node.after, steps, boundaries), node.number, node.end, when)  # type: ignore[arg-type]
    if isinstance(node, _Alternate):
        boundaries.update(range(1, steps + 1))
        return _Alternate(tuple(_resolve(option, steps, boundaries) for option in node.options))  # type: ignore[misc]
    return node


def _text_at(node: object, step: int) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, _Group):
        for part in node.parts:
            yield from _text_at(part, step)
    elif isinstance(node, _Scheduled):
        chosen = node.before if step <= node.when else node.after
        if chosen is not None:
            yield from _text_at(chosen, step)
    elif isinstance(node, _Alternate):
        yield from _text_at(node.options[(step - 1) % len(node.options)], step)


def prompt_schedule(prompt: str, steps: int) -> list[ScheduledText]:
    """The texts `prompt` stands for during `steps` sampling steps, each with its last step.

    A prompt without editing or alternation gives `[ScheduledText(steps, prompt)]`.
    """
    tree = _Parser(prompt).start()
    if tree is None:
        return [ScheduledText(steps, prompt)]
    boundaries = {steps}
    resolved = _resolve(tree, steps, boundaries)
    return [ScheduledText(step, "".join(_text_at(resolved, step))) for step in sorted(boundaries)]


def text_for_step(schedule: list[ScheduledText], step_index: int) -> int:
    """The index in `schedule` of the text sampling step `step_index` (0-based) uses."""
    for index, entry in enumerate(schedule):
        if step_index <= entry.end_at_step:
            return index
    return 0
