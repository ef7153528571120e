"""75-token chunks, on a word-per-token tokenizer so positions are easy to read."""

from collections.abc import Sequence

from studio.prompts.attention import parse_attention
from studio.prompts.chunks import (
    SpecialTokens,
    chunk_prompt,
    empty_chunk,
    target_token_count,
)

START, END, PAD, COMMA = 1000, 1001, 1002, 7
SPECIAL = SpecialTokens(start=START, end=END, pad=END, comma=COMMA)


def tokenize(texts: list[str]) -> Sequence[Sequence[int]]:
    """'w12' -> 12, ',' -> COMMA, any other word -> 999; whitespace separates."""
    return [[_token(word) for word in text.replace(",", " , ").split()] for text in texts]


def _token(word: str) -> int:
    if word == ",":
        return COMMA
    return int(word[1:]) if word[0] == "w" else 999


def words(count: int, first: int = 10) -> str:
    return " ".join(f"w{first + i}" for i in range(count))


def chunks_of(prompt: str, special: SpecialTokens = SPECIAL):
    return chunk_prompt(parse_attention(prompt), tokenize, special)


def test_a_short_prompt_is_one_chunk_wrapped_to_77() -> None:
    chunks, count = chunks_of("w10 (w11:1.5) w12")
    assert count == 3
    [chunk] = chunks
    assert chunk.tokens == [START, 10, 11, 12] + [END] * 73 and len(chunk.tokens) == 77
    assert chunk.weights == [1.0, 1.0, 1.5, 1.0] + [1.0] * 73


def test_long_prompts_continue_in_more_chunks() -> None:
    chunks, count = chunks_of(words(160))
    assert count == 160 and len(chunks) == 3 and target_token_count(count) == 225
    assert chunks[0].tokens[1:76] == list(range(10, 85)) and chunks[0].tokens[76] == END
    assert chunks[1].tokens[1:76] == list(range(85, 160))
    assert chunks[2].tokens[1:11] == list(range(160, 170)) and chunks[2].tokens[11:] == [END] * 66
    assert all(len(chunk.tokens) == 77 for chunk in chunks)


def test_a_full_chunk_moves_the_words_after_its_last_comma_to_the_next() -> None:
    chunks, _ = chunks_of(words(70) + ", " + words(10, first=200))
    # 70 words and the comma stay; the 4 words after the comma that fitted move on.
    assert chunks[0].tokens[1:72] == [*range(10, 80), COMMA] and chunks[0].tokens[72:] == [END] * 5
    assert chunks[1].tokens[1:11] == list(range(200, 210))


def test_a_comma_more_than_20_tokens_back_is_not_used() -> None:
    chunks, _ = chunks_of(words(50) + ", " + words(30, first=200))
    assert chunks[0].tokens[1:76] == [*range(10, 60), COMMA, *range(200, 224)]
    assert chunks[1].tokens[1:7] == list(range(224, 230))


def test_break_closes_the_chunk_even_an_empty_one() -> None:
    chunks, count = chunks_of("w10 BREAK w11")
    assert [c.tokens[1:3] for c in chunks] == [[10, END], [11, END]] and count == 76
    chunks, _ = chunks_of("BREAK w11")
    assert chunks[0].tokens == [START] + [END] * 76 and chunks[1].tokens[1] == 11


def test_an_empty_prompt_is_one_empty_chunk() -> None:
    chunks, count = chunks_of("")
    assert count == 0 and [c.tokens for c in chunks] == [empty_chunk(SPECIAL).tokens]
    assert target_token_count(0) == 75 and target_token_count(75) == 75 and target_token_count(76) == 150


def test_a_pad_token_of_its_own_follows_the_first_end_token() -> None:
    special = SpecialTokens(start=START, end=END, pad=PAD, comma=COMMA)
    chunks, _ = chunks_of("w10", special)
    assert chunks[0].tokens == [START, 10, END] + [PAD] * 74
    assert empty_chunk(special).tokens == [START, END] + [PAD] * 75
