from dataclasses import replace

import pytest

from studio.request import GenerationRequest, RequestError, RequestErrors, text_problem, validate


def test_round_trips_through_json_with_images() -> None:
    request = GenerationRequest(prompt="a red circle", init_images=(b"\x89PNG-bytes",), mask=b"mask", seed=7)
    again = GenerationRequest.from_json(request.to_json())
    assert again == request
    assert again.mode == "inpaint"


def test_replace_makes_a_variation_without_touching_the_base() -> None:
    base = GenerationRequest(prompt="x", steps=20)
    variation = replace(base, steps=30)
    assert (base.steps, variation.steps) == (20, 30)


@pytest.mark.parametrize(
    ("changes", "field_name", "words"),
    [
        ({"width": 100}, "width", "multiple of 8"),
        ({"height": 8}, "height", "out of range"),
        ({"steps": 0}, "steps", "out of range"),
        ({"cfg_scale": 31}, "cfg_scale", "out of range"),
        ({"batch_size": 65}, "batch_size", "out of range"),
        ({"denoising_strength": 1.5}, "denoising_strength", "out of range"),
        ({"steps": "20"}, "steps", "integer"),
        ({"mask": b"m"}, "mask", "init image"),
    ],
)
def test_validation_names_the_field(changes: dict, field_name: str, words: str) -> None:
    with pytest.raises(RequestError) as caught:
        validate(GenerationRequest(**changes))
    assert caught.value.field == field_name
    assert words in str(caught.value)


def test_unknown_sampler_lists_the_valid_choices() -> None:
    with pytest.raises(RequestError, match="Euler a, DDIM") as caught:
        validate(GenerationRequest(sampler_name="Nope"), samplers=["Euler a", "DDIM"])
    assert caught.value.field == "sampler_name"


def test_from_json_rejects_unknown_fields_and_bad_base64() -> None:
    with pytest.raises(RequestError) as caught:
        GenerationRequest.from_json({"promt": "typo"})
    assert caught.value.field == "promt"
    with pytest.raises(RequestError) as caught:
        GenerationRequest.from_json({"init_images": ["not base64!!"]})
    assert caught.value.field == "init_images[0]"


def test_validation_names_every_bad_field_at_once() -> None:
    request = GenerationRequest(prompt="a\x00", width=65, steps=0, cfg_scale=-1, sampler_name="Nope")
    with pytest.raises(RequestErrors) as caught:
        validate(request, samplers=["Euler a"])
    assert [problem.field for problem in caught.value.problems] == [
        "prompt",
        "width",
        "steps",
        "cfg_scale",
        "sampler_name",
    ]
    assert caught.value.field == "prompt"  # the first, for code that names one field
    assert isinstance(caught.value, RequestError)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("\ud800x", "lone surrogate (U+D800) at position 0"),
        ("ok\udfff", "U+DFFF"),
        ("a\x00b", "control character U+0000 at position 1"),
        ("esc\x1b[31m", "U+001B"),
        ("del\x7f", "U+007F"),
        ("c1\x85", "U+0085"),
    ],
)
def test_prompts_must_be_text(text: str, words: str) -> None:
    assert words in (text_problem(text) or "")
    for field_name in ("prompt", "negative_prompt"):
        with pytest.raises(RequestError) as caught:
            validate(GenerationRequest(**{field_name: text}))
        assert caught.value.field == field_name and words in caught.value.message


def test_newlines_tabs_and_any_language_are_text() -> None:
    assert text_problem("a red circle\n\tnext line\r\n, 漢字, émoji 🎨") is None
    assert text_problem(3) == "expected a string, got int"


def test_from_json_names_every_unknown_field_and_bad_image() -> None:
    with pytest.raises(RequestErrors) as caught:
        GenerationRequest.from_json({"promt": "x", "colour": 1, "init_images": ["%%", "!!"], "scripts": []})
    assert [problem.field for problem in caught.value.problems] == [
        "colour",
        "promt",
        "init_images[0]",
        "init_images[1]",
        "scripts",
    ]
    with pytest.raises(RequestError) as single:
        GenerationRequest.from_json({"init_images": 5})
    assert single.value.field == "init_images"
