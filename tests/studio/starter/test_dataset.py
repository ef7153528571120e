from __future__ import annotations

import numpy as np
import pytest

from studio.pipeline.tokenizer_files import write_clip_tokenizer
from studio.starter import dataset
from studio.starter.dataset import (
    COLOURS,
    POSITIONS,
    SHAPES,
    Scene,
    caption_for,
    generate,
    generate_arrays,
    position_matches,
    read_image,
    render,
    vocabulary,
)


def test_same_seed_gives_the_same_images_and_captions() -> None:
    images_a, captions_a = generate_arrays(seed=7, count=40)
    images_b, captions_b = generate_arrays(seed=7, count=40)
    assert captions_a == captions_b
    assert np.array_equal(images_a, images_b)


def test_different_seeds_differ() -> None:
    images_a, captions_a = generate_arrays(seed=1, count=20)
    images_b, captions_b = generate_arrays(seed=2, count=20)
    assert captions_a != captions_b
    assert not np.array_equal(images_a, images_b)


def test_captions_match_the_pixels() -> None:
    stated_positions = 0
    for image, caption, scene in generate(seed=3, count=300):
        reading = read_image(image)
        assert reading.background == scene.background, caption
        assert reading.colour == scene.colour, caption
        assert scene.colour in caption and scene.shape in caption
        if scene.background_stated:
            assert caption.endswith(f", {scene.background} background")
        if scene.position is not None:
            stated_positions += 1
            assert POSITIONS[scene.position][0] in caption
            assert reading.centre is not None and position_matches(scene.position, reading.centre), caption
    assert stated_positions > 100


def test_size_words_change_the_covered_area() -> None:
    def coverage(size: str) -> float:
        scene = Scene("circle", "red", "blue", size, "center", (0.5, 0.5), 0.0, True, True)
        return read_image(render(scene)).coverage

    assert coverage("large") > 2.5 * coverage("small")


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_draws_something_centred(shape: str) -> None:
    scene = Scene(shape, "yellow", "black", "large", "center", (0.5, 0.5), 0.0, True, True)
    reading = read_image(render(scene, resolution=32))
    assert reading.colour == "yellow" and reading.coverage > 0.1
    assert reading.centre is not None and position_matches("center", reading.centre)


def test_caption_wording() -> None:
    assert (
        caption_for("circle", "red", "small", "left", "blue")
        == "a small red circle on the left, blue background"
    )
    assert caption_for("star", "yellow") == "a yellow star"


def test_vocabulary_covers_every_caption_and_tokenizes_to_whole_words(tmp_path) -> None:
    from transformers import CLIPTokenizer

    words = set(vocabulary())
    for _, caption, _ in generate(seed=0, count=200):
        assert set(caption.replace(",", " ,").split()) <= words
    assert set(COLOURS) <= words and set(SHAPES) <= words
    tokenizer = CLIPTokenizer.from_pretrained(write_clip_tokenizer(tmp_path, vocabulary()))
    ids = tokenizer("a small red circle on the left, blue background").input_ids
    assert len(ids) == 2 + 10  # bos + one token per word and the comma + eos


def test_reading_an_empty_image_finds_no_shape() -> None:
    image = np.zeros((16, 16, 3), dtype=np.uint8) + np.array(COLOURS["green"], dtype=np.uint8)
    reading = dataset.read_image(image)
    assert reading.background == "green" and reading.colour is None and reading.centre is None
