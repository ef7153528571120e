"""Dynamic prompts: `{a|b|c}` choices and `__name__` wildcards, chosen from the image's seed.

The syntax is the Dynamic Prompts extension's (sd-dynamic-prompts), the part people use:

    {red|green|blue}          one option
    {0.5::red|2::blue}        weighted options (weight 1 when none is given)
    {2$$red|green|blue}       two different options joined with ", "
    {1-3$$red|green|blue}     one to three (also `{-3$$...}` = 0..3 and `{2-$$...}` = 2..all)
    {2$$ and $$red|green}     two, joined with " and "
    __animals__               a random line of wildcards/animals.txt in the data dir
    __animals/cats__          nested folders: wildcards/animals/cats.txt
    __animals/*__             a line of any file the glob names
    \\{ \\} \\|                 literal braces and bar

Options and wildcard lines may hold choices and wildcards themselves. A wildcard file is text,
one value a line; empty lines and lines starting with '#' are skipped. `[a|b]` (A1111's
alternation) and anything outside braces is left alone.

Every choice comes from a `random.Random` seeded with the image's seed, so the same seed gives
the same prompt again. A missing wildcard or an unclosed brace is a RequestError naming the
prompt field, found before any work is queued (`check`).
"""

from __future__ import annotations

import fnmatch
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from studio.request import RequestError

FOLDER_NAME = "wildcards"
MAX_DEPTH = 20
WILDCARD = re.compile(r"__([\w\-./*?]+?)__")
COUNT = re.compile(r"(\d*)(?:(-)(\d*))?\$\$")
DEFAULT_SEPARATOR = ", "


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Wildcard:
    name: str


@dataclass(frozen=True)
class Option:
    weight: float
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Variant:
    options: tuple[Option, ...]
    low: int = 1
    high: int = 1
    separator: str = DEFAULT_SEPARATOR


Node = Text | Wildcard | Variant


class _Parser:
    def __init__(self, text: str, field_name: str) -> None:
        self.text = text
        self.field = field_name
        self.pos = 0

    def error(self, message: str) -> RequestError:
        return RequestError(self.field, message)

    def parse(self) -> tuple[Node, ...]:
        parts = self.sequence(stop="")
        if self.pos < len(self.text):
            raise self.error(
                f"'{self.text[self.pos]}' at position {self.pos + 1} has no opening '{{' "
                "(write \\} for a literal one)"
            )
        return parts

    def sequence(self, stop: str) -> tuple[Node, ...]:
        """Nodes until one of `stop`'s characters at this depth (not consumed) or the end."""
        parts: list[Node] = []
        buffer: list[str] = []

        def flush() -> None:
            if buffer:
                parts.extend(_split_wildcards("".join(buffer)))
                buffer.clear()

        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == "\\" and self.pos + 1 < len(text) and text[self.pos + 1] in "{}|":
                buffer.append(text[self.pos + 1])
                self.pos += 2
                continue
            if ch == "{":
                flush()
                parts.append(self.variant())
                continue
            if ch == "}" or (ch == "|" and "|" in stop):
                break  # the caller decides: the end of an option, or a stray "}" at the top
            buffer.append(ch)
            self.pos += 1
        flush()
        return tuple(parts)

    def variant(self) -> Variant:
        start = self.pos
        self.pos += 1  # "{"
        low = high = 1
        separator = DEFAULT_SEPARATOR
        count = COUNT.match(self.text, self.pos)
        if count is not None and (count.group(1) or count.group(2)):
            first, dash, last = count.groups()
            low = int(first) if first else (0 if dash else 1)
            high = int(last) if last else (-1 if dash else low)
            self.pos = count.end()
            end = self.text.find("$$", self.pos)
            bar = self.text.find("|", self.pos)
            close = self.text.find("}", self.pos)
            if end != -1 and (bar == -1 or end < bar) and (close == -1 or end < close):
                separator = self.text[self.pos : end]
                self.pos = end + 2
        options: list[Option] = []
        while True:
            weight = 1.0
            weighted = re.match(r"\s*(\d+(?:\.\d+)?|\.\d+)::", self.text[self.pos :])
            if weighted is not None:
                weight = float(weighted.group(1))
                self.pos += weighted.end()
            options.append(Option(weight, self.sequence(stop="|}")))
            if self.pos >= len(self.text):
                raise self.error(
                    f"'{{' at position {start + 1} is never closed (write \\{{ for a literal one)"
                )
            if self.text[self.pos] == "}":
                self.pos += 1
                break
            self.pos += 1  # "|"
        if high != -1 and high < low:
            raise self.error(f"'{{{low}-{high}$$' at position {start + 1} asks for fewer than it must")
        return Variant(tuple(options), low, high, separator)


def _split_wildcards(text: str) -> list[Node]:
    parts: list[Node] = []
    last = 0
    for match in WILDCARD.finditer(text):
        if match.start() > last:
            parts.append(Text(text[last : match.start()]))
        parts.append(Wildcard(match.group(1)))
        last = match.end()
    if last < len(text):
        parts.append(Text(text[last:]))
    return parts


def parse(text: str, field_name: str = "prompt") -> tuple[Node, ...]:
    """The prompt as text, choices and wildcards (RequestError naming `field_name` if malformed)."""
    return _Parser(text, field_name).parse()


def is_dynamic(text: str) -> bool:
    """Whether the prompt holds any choice or wildcard (else it is used as it is)."""
    return any(not isinstance(node, Text) for node in parse(text))


@dataclass
class WildcardLibrary:
    """The wildcard files under one folder (`data_dir/wildcards`), read when asked."""

    folder: Path
    _values: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def names(self) -> list[str]:
        """Every wildcard, as written between the underscores (`animals/cats`)."""
        if not self.folder.is_dir():
            return []
        return sorted(
            path.relative_to(self.folder).with_suffix("").as_posix()
            for path in self.folder.rglob("*.txt")
            if path.is_file()
        )

    def values(self, name: str) -> list[str]:
        """The lines of the wildcard (or of every file a glob names, in name order); [] if none."""
        if name not in self._values:
            names = (
                [n for n in self.names() if fnmatch.fnmatchcase(n, name)]
                if any(ch in name for ch in "*?")
                else [name]
            )
            values: list[str] = []
            for each in names:
                path = self.folder / f"{each}.txt"
                if ".." in Path(each).parts or not path.is_file():
                    continue
                lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
                values.extend(
                    line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")
                )
            self._values[name] = values
        return self._values[name]

    def fresh(self) -> WildcardLibrary:
        """The same folder with nothing read yet (one per generation, so edits show up)."""
        return WildcardLibrary(self.folder)


class _Resolver:
    def __init__(self, library: WildcardLibrary | None, rng: random.Random, field_name: str) -> None:
        self.library = library
        self.rng = rng
        self.field = field_name

    def wildcard_values(self, name: str) -> list[str]:
        values = self.library.values(name) if self.library is not None else []
        if not values:
            known = ", ".join(self.library.names()) if self.library is not None else ""
            raise RequestError(
                self.field,
                f"no wildcard __{name}__ (put lines in wildcards/{name}.txt in the data dir); "
                f"known: {known or 'none'}",
            )
        return values

    def text(self, parts: Sequence[Node], depth: int = 0) -> str:
        if depth > MAX_DEPTH:
            raise RequestError(
                self.field, f"wildcards nest deeper than {MAX_DEPTH} levels (one names itself?)"
            )
        out: list[str] = []
        for node in parts:
            if isinstance(node, Text):
                out.append(node.text)
            elif isinstance(node, Wildcard):
                line = self.rng.choice(self.wildcard_values(node.name))
                out.append(self.text(parse(line, self.field), depth + 1))
            else:
                out.append(self.variant(node, depth))
        return "".join(out)

    def variant(self, node: Variant, depth: int) -> str:
        options = list(node.options)
        high = len(options) if node.high == -1 else min(node.high, len(options))
        low = min(node.low, high)
        count = self.rng.randint(low, high) if high > low else low
        chosen: list[Option] = []
        for _ in range(count):
            weights = [option.weight for option in options]
            if sum(weights) <= 0:
                weights = [1.0] * len(options)
            pick = self.rng.choices(range(len(options)), weights=weights)[0]
            chosen.append(options.pop(pick))
        return node.separator.join(self.text(option.parts, depth) for option in chosen)


def resolve(text: str, seed: int, library: WildcardLibrary | None, field_name: str = "prompt") -> str:
    """The prompt with every choice and wildcard made, from `seed` (the same seed, the same text)."""
    return _Resolver(library, random.Random(seed), field_name).text(parse(text, field_name))


def check(text: str, library: WildcardLibrary | None, field_name: str = "prompt") -> None:
    """RequestError naming `field_name` if the prompt is malformed or names a missing wildcard."""
    missing: list[str] = []
    seen: set[str] = set()

    def walk(parts: Sequence[Node]) -> None:
        for node in parts:
            if isinstance(node, Wildcard) and node.name not in seen:
                seen.add(node.name)
                values = library.values(node.name) if library is not None else []
                if not values:
                    missing.append(node.name)
                for line in values:
                    walk(parse(line, field_name))
            elif isinstance(node, Variant):
                for option in node.options:
                    walk(option.parts)

    walk(parse(text, field_name))
    if missing:
        known = ", ".join(library.names()) if library is not None else ""
        names = ", ".join(f"__{name}__" for name in dict.fromkeys(missing))
        raise RequestError(
            field_name,
            f"no wildcard {names} (put lines in wildcards/<name>.txt in the data dir); known: {known or 'none'}",
        )
