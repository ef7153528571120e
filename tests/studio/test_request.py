from dataclasses import replace

import pytest

from studio.request import GenerationRequest, RequestError, validate


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
