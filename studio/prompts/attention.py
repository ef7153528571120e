"""Attention weights in a prompt: `(word)`, `[word]`, `(word:1.3)`, escapes, and `BREAK`.

A1111 semantics (modules/prompt_parser.py `parse_prompt_attention`, emphasis "Original"):

- `(text)` multiplies the weight of `text` by 1.1, `[text]` by 1/1.1, `(text:w)` by `w`;
  groups nest and their factors multiply.
- `\\(`, `\\)`, `\\[`, `\\]`, `\\\\` are the literal characters; a backslash before anything
  else is dropped.
- A closing `)` or `]` with no open group is text; a group still open at the end applies its
  factor to everything after it (all open `(` first, then all open `[`).
- `(text:w)` needs a number after the colon; any other colon is text.
- `BREAK` (a whole word, upper case) outside any group ends the current 75-token chunk. Inside a
  group its marker weight is multiplied like any other and it is then the word "BREAK" with
  that weight (as in A1111).
- Neighbouring pieces with the same weight are merged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROUND_FACTOR = 1.1
SQUARE_FACTOR = 1 / 1.1
BREAK_WEIGHT = -1.0

_TOKEN = re.compile(
    r"""
    \\[()\[\]\\]?          # an escape (or a lone backslash)
    | [(\[]                # an opening bracket
    | :\s*([+-]?[.\d]+)\s*\)   # a weight closing a round group
    | [)\]]                # a closing bracket
    | [^\\()\[\]:]+        # text
    | :                    # a colon that is text
    """,
    re.X,
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)


class PromptSyntaxError(ValueError):
    """A prompt A1111 could not use either (its parser would fail on it)."""


@dataclass
class WeightedText:
    text: str
    weight: float

    @property
    def is_break(self) -> bool:
        return self.text == "BREAK" and self.weight == BREAK_WEIGHT


def parse_attention(prompt: str) -> list[WeightedText]:
    """The prompt as pieces of text with their weights (BREAK markers have weight -1)."""
    pieces: list[WeightedText] = []
    open_round: list[int] = []
    open_square: list[int] = []

    def multiply_from(start: int, factor: float) -> None:
        for piece in pieces[start:]:
            piece.weight *= factor

    for match in _TOKEN.finditer(prompt):
        token, weight = match.group(0), match.group(1)
        if token.startswith("\\"):
            pieces.append(WeightedText(token[1:], 1.0))
        elif token == "(":
            open_round.append(len(pieces))
        elif token == "[":
            open_square.append(len(pieces))
        elif weight is not None and open_round:
            multiply_from(open_round.pop(), _weight(weight))
        elif token == ")" and open_round:
            multiply_from(open_round.pop(), ROUND_FACTOR)
        elif token == "]" and open_square:
            multiply_from(open_square.pop(), SQUARE_FACTOR)
        else:
            for index, part in enumerate(_BREAK.split(token)):
                if index:
                    pieces.append(WeightedText("BREAK", BREAK_WEIGHT))
                pieces.append(WeightedText(part, 1.0))
    for start in open_round:
        multiply_from(start, ROUND_FACTOR)
    for start in open_square:
        multiply_from(start, SQUARE_FACTOR)
    if not pieces:
        return [WeightedText("", 1.0)]
    merged = [pieces[0]]
    for piece in pieces[1:]:
        if piece.weight == merged[-1].weight:
            merged[-1].text += piece.text
        else:
            merged.append(piece)
    return merged


def _weight(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise PromptSyntaxError(f"{text!r} in '(...:{text})' is not a number") from None
