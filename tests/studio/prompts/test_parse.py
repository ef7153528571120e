"""The prompt as a whole: AND, the trailing weight, errors naming the field, token counts."""

import pytest

from studio.prompts.chunks import SpecialTokens
from studio.prompts.composable import SubPrompt, split_composable
from studio.prompts.parse import (
    PromptPart,
    TokenCount,
    check_prompt,
    count_tokens,
    is_composable,
    parse_prompt,
)
from studio.prompts.schedule import ScheduledText
from studio.request import RequestError
from tests.studio.prompts.test_chunks import tokenize

SPECIAL = SpecialTokens(start=1000, end=1001, pad=1001, comma=7)


def test_and_splits_as_in_a1111_readme() -> None:
    assert split_composable("a cat :1.2 AND a dog AND a penguin :2.2") == [
        SubPrompt("a cat", 1.2),
        SubPrompt(" a dog", 1.0),
        SubPrompt(" a penguin", 2.2),
    ]
    assert split_composable("cats and dogs, ANDROID") == [SubPrompt("cats and dogs, ANDROID", 1.0)]


def test_parts_and_weights() -> None:
    parts = parse_prompt("a [red:blue:5] circle :1.5 AND a square", 10)
    assert parts == [
        PromptPart([ScheduledText(5, "a red circle"), ScheduledText(10, "a blue circle")], 1.5),
        PromptPart([ScheduledText(10, " a square")], 1.0),
    ]
    assert is_composable(parts) and is_composable(parse_prompt("a circle :0.5", 10))
    assert not is_composable(parse_prompt("a red (circle:1.5)", 10))
    # The negative prompt is never split: its colon and number are text.
    assert parse_prompt("blurry :1.5 AND ugly", 10, positive=False) == [
        PromptPart([ScheduledText(10, "blurry :1.5 AND ugly")])
    ]


def test_errors_name_the_field() -> None:
    with pytest.raises(RequestError) as error:
        check_prompt("a castle", "(blurry:1.2.3)", 20, 7)
    assert error.value.field == "negative_prompt" and "1.2.3" in error.value.message
    with pytest.raises(RequestError) as error:  # inside an edited part, at any step
        check_prompt("[a:(b:..):3]", "", 20, 7)
    assert error.value.field == "prompt"
    # AND parts are combined in the guidance: it must be on.
    with pytest.raises(RequestError) as error:
        check_prompt("a castle AND a forest", "", 20, 1)
    assert error.value.field == "cfg_scale" and "AND" in error.value.message
    check_prompt("a castle AND a forest :0.5", "", 20, 1.5)
    check_prompt("a castle and a forest, [day:night:0.5], (sky:1.2) BREAK sea", "AND", 20, 1)


def test_token_count_as_the_a1111_counter() -> None:
    assert count_tokens("w1 w2 w3", 20, tokenize, SPECIAL) == TokenCount(3, 75)
    # The longest text over the schedule, extra-network tags left out, AND parts each.
    assert count_tokens("w1 [w2 w3 w4:2] <lora:x:1>", 20, tokenize, SPECIAL).tokens == 4
    assert count_tokens("w1 AND w2 w3", 20, tokenize, SPECIAL).tokens == 2
    assert count_tokens("w1 AND w2 w3", 20, tokenize, SPECIAL, positive=False).tokens == 4
    assert count_tokens("w1 BREAK w2", 20, tokenize, SPECIAL) == TokenCount(76, 150)
    assert count_tokens(" ".join(f"w{i}" for i in range(80)), 20, tokenize, SPECIAL) == TokenCount(80, 150)
    assert count_tokens("(w1:1.2.3)", 20, tokenize, SPECIAL).tokens == 1  # counted as typed
