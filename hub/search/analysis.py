"""A one-stage Whoosh analyzer: lowercase, split into words, drop stop words.

The same result as `StandardAnalyzer(minsize=1)`, in one generator instead of a chain of three
(tokenizer, lowercase filter, stop filter): the index build spends much of its time here.
"""

from __future__ import annotations

import re

from whoosh.analysis import STOP_WORDS, Token, Tokenizer

_WORDS = re.compile(r"\w+(?:\.?\w+)*", re.UNICODE)


class WordAnalyzer(Tokenizer):
    def __init__(self, stoplist: frozenset[str] = STOP_WORDS) -> None:
        self.stoplist = frozenset(stoplist)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.stoplist == self.stoplist

    def __hash__(self) -> int:
        return hash(self.stoplist)

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs,
    ):
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        stoplist = self.stoplist
        position = start_pos
        for match in _WORDS.finditer(value.lower()):
            text = match.group()
            stopped = text in stoplist
            if stopped and removestops:
                position += 1
                continue
            token.text = text
            token.stopped = stopped
            token.boost = 1.0
            if keeporiginal:
                token.original = text
            if positions:
                token.pos = position
            if chars:
                token.startchar = start_char + match.start()
                token.endchar = start_char + match.end()
            position += 1
            yield token
