"""Prompt editing and alternation, on A1111's own examples (the doctests of its prompt parser
and the wiki's Features page) and on the corner cases its parser decides in its own way."""

import pytest

from studio.prompts.schedule import ScheduledText, prompt_schedule, text_for_step


def schedule(prompt: str, steps: int = 10) -> list[list[object]]:
    return [[entry.end_at_step, entry.text] for entry in prompt_schedule(prompt, steps)]


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("test", [[10, "test"]]),
        ("a [b:3]", [[3, "a "], [10, "a b"]]),
        ("a [b: 3]", [[3, "a "], [10, "a b"]]),
        ("a [[[b]]:2]", [[2, "a "], [10, "a [[b]]"]]),
        ("[(a:2):3]", [[3, ""], [10, "(a:2)"]]),
        ("a [b : c : 1] d", [[1, "a b  d"], [10, "a  c  d"]]),
        ("a[b:[c:d:2]:1]e", [[1, "abe"], [2, "ace"], [10, "ade"]]),
        ("a [unbalanced", [[10, "a [unbalanced"]]),
        ("a [b:.5] c", [[5, "a  c"], [10, "a b c"]]),
        # A1111's doctest still says [[5, "a  c"], [10, "a {b|d{ c"]] ("not handling this right
        # now"), from before `|` left plain text; its parser today fails on it and keeps it as is.
        ("a [{b|d{:.5] c", [[10, "a [{b|d{:.5] c"]]),
        ("((a][:b:c [d:3]", [[3, "((a][:b:c "], [10, "((a][:b:c d"]]),
        ("[a|(b:1.1)]", [[s, "a" if s % 2 else "(b:1.1)"] for s in range(1, 11)]),
        ("[fe|]male", [[s, "female" if s % 2 else "male"] for s in range(1, 11)]),
        ("[fe|||]male", [[s, "female" if s % 4 == 1 else "male"] for s in range(1, 11)]),
    ],
)
def test_a1111_doctests(prompt: str, expected: list[list[object]]) -> None:
    assert schedule(prompt) == expected


def test_the_wiki_example_at_100_steps() -> None:
    prompt = (
        "fantasy landscape with a [mountain:lake:0.25] and [an oak:a christmas tree:0.75]"
        "[ in foreground::0.6][ in background:0.25] [shoddy:masterful:0.5]"
    )
    assert schedule(prompt, 100) == [
        [25, "fantasy landscape with a mountain and an oak in foreground shoddy"],
        [50, "fantasy landscape with a lake and an oak in foreground in background shoddy"],
        [60, "fantasy landscape with a lake and an oak in foreground in background masterful"],
        [75, "fantasy landscape with a lake and an oak in background masterful"],
        [100, "fantasy landscape with a lake and a christmas tree in background masterful"],
    ]


def test_from_to_when_in_steps_and_fractions() -> None:
    assert schedule("a [fantasy:cyberpunk:16] landscape", 20) == [
        [16, "a fantasy landscape"],
        [20, "a cyberpunk landscape"],
    ]
    # A decimal point makes it a fraction: 1.0 is all the steps, 0 or less is never.
    assert schedule("[a:b:1.0]", 20) == [[20, "a"]]
    assert schedule("[a:b:0]", 20) == [[20, "b"]]
    assert schedule("[a:b:0.0]", 20) == [[20, "b"]]
    assert schedule("[a:b:-3]", 20) == [[20, "b"]]
    # Past the last step: capped at the steps (A1111 raises OverflowError on 1e999; we cap it too).
    assert schedule("[a:b:50]", 20) == [[20, "a"]]
    assert schedule("[a:b:1e999]", 20) == [[20, "a"]]
    assert schedule("[a:b:1e1]", 20) == [[10, "a"], [20, "b"]]  # no decimal point: a step
    assert schedule("[a:b:0.33]", 20) == [[6, "a"], [20, "b"]]  # 6.6 truncated
    assert schedule("[from::3]", 5) == [[3, "from"], [5, ""]]
    assert schedule("[a:b:3 ]", 5) == [[3, "a"], [5, "b"]]


def test_text_that_is_not_editing_is_kept_as_typed() -> None:
    for prompt in ("a | b", "trailing \\", "[a:b:c]", "(a:b:c)", "[a:b:3", "a:3]", "\\[a:b:3\\]"):
        assert schedule(prompt) == [[10, prompt]], prompt


def test_editing_followed_by_an_even_run_of_brackets_is_text_as_in_a1111() -> None:
    """A1111's parser (lark's Earley, resolving ambiguity) reads `[b:3]` followed by an even
    run of bracket/colon characters as plain text; we match it (found by comparing the two on
    random prompts)."""
    assert schedule("[b:3])", 4) == [[3, ")"], [4, "b)"]]
    assert schedule("[b:3]))", 4) == [[4, "[b:3]))"]]
    assert schedule("[b:3])))", 4) == [[3, ")))"], [4, "b)))"]]
    assert schedule("([a:3]))", 4) == [[4, "([a:3]))"]]
    assert schedule("[a|b]))", 2) == [[1, "a))"], [2, "b))"]]


def test_the_step_a_sampling_step_uses() -> None:
    # A1111 counts sampling steps from 0 and takes the first entry lasting to at least that.
    entries = [ScheduledText(3, "a"), ScheduledText(10, "b")]
    assert [text_for_step(entries, k) for k in range(10)] == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    # Past the schedule (a sampler evaluating the model more often than steps): the first one.
    assert text_for_step(entries, 11) == 0
