"""Token chunks: a prompt of any length as 75-token chunks, each wrapped to CLIP's 77.

A1111 semantics (modules/sd_hijack_clip.py `tokenize_line`): each weighted piece of text is
tokenized on its own (no start/end tokens); tokens fill chunks of 75 carrying their piece's
weight. When a chunk is full and a comma came within its last 20 tokens, the tokens after that
comma move to the next chunk (so a phrase is not cut in two). `BREAK` closes the current
chunk (even an empty one). Every chunk is padded to 75 with the end token and wrapped as
start + 75 + end; tokens after the first end token become the pad token (SD 2 pads with a
token of its own). The token count is 75 per full chunk plus the tokens of the last one.

No torch here: the tokenizer comes in as a function, so the UI's token counter and the
engine's text encoding share this code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from studio.prompts.attention import WeightedText

CHUNK_LENGTH = 75
COMMA_BACKTRACK = 20  # A1111's default "comma_padding_backtrack"

Tokenize = Callable[[list[str]], Sequence[Sequence[int]]]
"""Texts -> token ids of each, without start/end tokens and without truncation."""


@dataclass(frozen=True)
class SpecialTokens:
    start: int
    end: int
    pad: int
    comma: int | None  # the id of ",</w>" where the vocabulary has one


@dataclass
class PromptChunk:
    tokens: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)


def empty_chunk(special: SpecialTokens) -> PromptChunk:
    """A chunk holding no text (start, then end tokens), as used to pad a batch."""
    tokens = [special.start] + [special.end] * (CHUNK_LENGTH + 1)
    return PromptChunk(_pad_after_end(tokens, special), [1.0] * (CHUNK_LENGTH + 2))


def chunk_prompt(
    pieces: list[WeightedText], tokenize: Tokenize, special: SpecialTokens
) -> tuple[list[PromptChunk], int]:
    """The 77-token chunks of a parsed prompt, and its token count."""
    tokenized = tokenize([piece.text for piece in pieces])
    chunks: list[PromptChunk] = []
    chunk = PromptChunk()
    token_count = 0
    last_comma = -1

    def close_chunk(is_last: bool = False) -> None:
        nonlocal chunk, token_count, last_comma
        token_count += len(chunk.tokens) if is_last else CHUNK_LENGTH
        missing = CHUNK_LENGTH - len(chunk.tokens)
        tokens = [special.start, *chunk.tokens, *[special.end] * missing, special.end]
        weights = [1.0, *chunk.weights, *[1.0] * missing, 1.0]
        chunks.append(PromptChunk(_pad_after_end(tokens, special), weights))
        chunk = PromptChunk()
        last_comma = -1

    for tokens, piece in zip(tokenized, pieces, strict=True):
        if piece.is_break:
            close_chunk()
            continue
        for token in tokens:
            if token == special.comma:
                last_comma = len(chunk.tokens)
            elif (
                len(chunk.tokens) == CHUNK_LENGTH
                and last_comma != -1
                and len(chunk.tokens) - last_comma <= COMMA_BACKTRACK
            ):
                moved_tokens = chunk.tokens[last_comma + 1 :]
                moved_weights = chunk.weights[last_comma + 1 :]
                del chunk.tokens[last_comma + 1 :], chunk.weights[last_comma + 1 :]
                close_chunk()
                chunk.tokens, chunk.weights = moved_tokens, moved_weights
            if len(chunk.tokens) == CHUNK_LENGTH:
                close_chunk()
            chunk.tokens.append(token)
            chunk.weights.append(piece.weight)
    if chunk.tokens or not chunks:
        close_chunk(is_last=True)
    return chunks, token_count


def target_token_count(token_count: int) -> int:
    """The chunk capacity a prompt of `token_count` tokens fills: 75, 150, ..."""
    return math.ceil(max(token_count, 1) / CHUNK_LENGTH) * CHUNK_LENGTH


def _pad_after_end(tokens: list[int], special: SpecialTokens) -> list[int]:
    if special.pad == special.end:
        return tokens
    first_end = tokens.index(special.end)
    return tokens[: first_end + 1] + [special.pad] * (len(tokens) - first_end - 1)
