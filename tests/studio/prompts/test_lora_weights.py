import pytest

from studio.prompts.extra_networks import LoraWeights, TagError, extract_network_tags, lora_weights


def weights(prompt: str) -> LoraWeights:
    _text, tags = extract_network_tags(prompt)
    return lora_weights(tags[0])


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("<lora:style>", LoraWeights("style", 1.0, 1.0)),
        ("<lora:style:0.6>", LoraWeights("style", 0.6, 0.6)),
        ("<lyco:style:1:0.25>", LoraWeights("style", 1.0, 0.25)),
        ("<lora:style:1:0.5:8>", LoraWeights("style", 1.0, 0.5, 8)),
        ("<lora:style:te=0.2:unet=0.9:dyn=4>", LoraWeights("style", 0.2, 0.9, 4)),
        ("<lora:style:0.7:unet=0>", LoraWeights("style", 0.7, 0.0)),
        ("<lora:sub/my style:-1>", LoraWeights("sub/my style", -1.0, -1.0)),
    ],
)
def test_a1111_weight_forms(prompt: str, expected: LoraWeights) -> None:
    assert weights(prompt) == expected


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("<lora:style:strong>", "the te weight must be a number, not 'strong'"),
        ("<lora:style:1:x>", "the unet weight must be a number"),
        ("<lora:style:1:1:1:1>", "too many arguments"),
        ("<lora:style:foo=1>", "unknown argument 'foo'"),
        ("<lora:style:1:1:0>", "dyn must be at least 1"),
        ("<lora:style:1:1:2.5>", "dyn must be a whole number"),
        ("<lora:style:nan>", "finite"),
        ("<lora: :1>", "the name is empty"),
    ],
)
def test_bad_arguments_name_the_tag(prompt: str, message: str) -> None:
    with pytest.raises(TagError) as raised:
        weights(prompt)
    assert prompt in str(raised.value) and message in str(raised.value)
