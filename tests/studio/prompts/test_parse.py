"""The prompt as a whole: AND, the trailing weight, errors naming the field, token counts."""

import pytest

from studio.prompts.chunks import SpecialTokens
from studio.prompts.composable import SubPrompt, split_composable
from studio.prompts.parse import TokenCount, check_prompt, count_tokens, parse_prompt
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


def test_a_single_prompt_with_a_trailing_weight_scales_the_guidance() -> None:
    parsed = parse_prompt("a red circle :1.5", 10)
    assert parsed.guidance_weight == 1.5 and parsed.schedule == [ScheduledText(10, "a red circle")]
    assert parse_prompt("a red (circle:1.5)", 10).guidance_weight == 1.0
    # The negative prompt is never split: its colon and number are text.
    negative = parse_prompt("blurry :1.5 AND ugly", 10, positive=False)
    assert negative.guidance_weight == 1.0 and negative.schedule == [
        ScheduledText(10, "blurry :1.5 AND ugly")
    ]


def test_errors_name_the_field() -> None:
    with pytest.raises(RequestError) as error:
        check_prompt("a castle AND a forest", "", 20)
    assert error.value.field == "prompt" and "AND" in error.value.message
    with pytest.raises(RequestError) as error:
        check_prompt("a castle", "(blurry:1.2.3)", 20)
    assert error.value.field == "negative_prompt" and "1.2.3" in error.value.message
    with pytest.raises(RequestError) as error:  # inside an edited part, at any step
        check_prompt("[a:(b:..):3]", "", 20)
    assert error.value.field == "prompt"
    check_prompt("a castle and a forest, [day:night:0.5], (sky:1.2) BREAK sea", "AND", 20)


def test_token_count_as_the_a1111_counter() -> None:
    assert count_tokens("w1 w2 w3", 20, tokenize, SPECIAL) == TokenCount(3, 75)
    # The longest text over the schedule, extra-network tags left out, AND parts each.
    assert count_tokens("w1 [w2 w3 w4:2] <lora:x:1>", 20, tokenize, SPECIAL).tokens == 4
    assert count_tokens("w1 AND w2 w3", 20, tokenize, SPECIAL).tokens == 2
    assert count_tokens("w1 AND w2 w3", 20, tokenize, SPECIAL, positive=False).tokens == 4
    assert count_tokens("w1 BREAK w2", 20, tokenize, SPECIAL) == TokenCount(76, 150)
    assert count_tokens(" ".join(f"w{i}" for i in range(80)), 20, tokenize, SPECIAL) == TokenCount(80, 150)
    assert count_tokens("(w1:1.2.3)", 20, tokenize, SPECIAL).tokens == 1  # counted as typed
