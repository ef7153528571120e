"""Attention weights, on A1111's doctests and the wiki's cheat sheet."""

import pytest

from studio.prompts.attention import PromptSyntaxError, parse_attention


def weights(prompt: str) -> list[list[object]]:
    return [[piece.text, piece.weight] for piece in parse_attention(prompt)]


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("normal text", [["normal text", 1.0]]),
        ("an (important) word", [["an ", 1.0], ["important", 1.1], [" word", 1.0]]),
        ("(unbalanced", [["unbalanced", 1.1]]),
        ("\\(literal\\]", [["(literal]", 1.0]]),
        ("(unnecessary)(parens)", [["unnecessaryparens", 1.1]]),
        (
            "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
            [
                ["a ", 1.0],
                ["house", 1.5730000000000004],
                [" ", 1.1],
                ["on", 1.0],
                [" a ", 1.1],
                ["hill", 0.55],
                [", sun, ", 1.1],
                ["sky", 1.4641000000000006],
                [".", 1.1],
            ],
        ),
    ],
)
def test_a1111_doctests(prompt: str, expected: list[list[object]]) -> None:
    assert weights(prompt) == expected


def test_the_wiki_cheat_sheet() -> None:
    assert weights("a (word)") == [["a ", 1.0], ["word", 1.1]]
    assert weights("a ((word))") == [["a ", 1.0], ["word", 1.1 * 1.1]]
    assert weights("a [word]") == [["a ", 1.0], ["word", 1 / 1.1]]
    assert weights("a (word:1.5)") == [["a ", 1.0], ["word", 1.5]]
    assert weights("a (word:0.25)") == [["a ", 1.0], ["word", 0.25]]
    assert weights("a \\(word\\)") == [["a (word)", 1.0]]
    assert weights("anime_\\(character\\)") == [["anime_(character)", 1.0]]


def test_weights_that_do_nothing_leave_the_text_as_one_piece() -> None:
    assert weights("a (cat:1.0) sat") == [["a cat sat", 1.0]]
    assert weights("a (cat: 1.0 ) sat") == [["a cat sat", 1.0]]
    assert weights("") == [["", 1.0]]


def test_unbalanced_brackets_the_a1111_way() -> None:
    assert weights("a cat)") == [["a cat)", 1.0]]  # a closer with nothing open is text
    assert weights("a ]cat") == [["a ]cat", 1.0]]
    # Groups still open at the end: all ( first, then all [.
    assert weights("[a (b") == [["a ", 0.9090909090909091], ["b", 1.0]]
    assert weights("a:b (c:d)") == [["a:b ", 1.0], ["c:d", 1.1]]


def test_colons_and_backslashes() -> None:
    assert weights("a:b") == [["a:b", 1.0]]
    assert weights("(a:b)") == [["a:b", 1.1]]  # no number after the colon: text, then ) closes
    assert weights("a:1.2)") == [["a:1.2)", 1.0]]  # a weight with no open group is text
    assert weights("a\\b") == [["ab", 1.0]]  # a backslash before anything else is dropped
    assert weights("a\\\\b") == [["a\\b", 1.0]]


def test_break() -> None:
    assert weights("a BREAK b") == [["a", 1.0], ["BREAK", -1.0], ["b", 1.0]]
    assert [p.is_break for p in parse_attention("a BREAK b")] == [False, True, False]
    assert weights("aBREAK b") == [["aBREAK b", 1.0]]  # only the whole word
    assert weights("a break b") == [["a break b", 1.0]]
    # Inside a group BREAK's marker weight is multiplied: it is then the word, weight -1.1.
    pieces = parse_attention("(a BREAK b)")
    assert [p.text for p in pieces] == ["a", "BREAK", "b"] and not any(p.is_break for p in pieces)


def test_a_weight_that_is_not_a_number_is_an_error() -> None:
    with pytest.raises(PromptSyntaxError, match=r"1\.2\.3"):
        parse_attention("(a:1.2.3)")
