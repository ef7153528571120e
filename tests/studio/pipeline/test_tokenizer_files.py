from pathlib import Path

import pytest
from transformers import CLIPTokenizer

from studio.pipeline.tokenizer_files import learn_merges, write_clip_tokenizer


def test_words_are_whole_tokens_and_prompts_differ(tmp_path: Path) -> None:
    words = ["red", "green", "blue", "circle", "square", "a", "at", "cat", "the"]
    tokenizer = CLIPTokenizer.from_pretrained(write_clip_tokenizer(tmp_path / "tok", words))
    for word in words:
        ids = tokenizer(word).input_ids
        assert len(ids) == 3, (word, tokenizer.convert_ids_to_tokens(ids))
        assert tokenizer.convert_ids_to_tokens(ids[1]) == word + "</w>"
    red = tokenizer("a red circle").input_ids
    blue = tokenizer("a blue square").input_ids
    assert red != blue
    assert len(set(red[1:-1])) == 3
    assert tokenizer.convert_ids_to_tokens(red[0]) == "<|startoftext|>"
    assert tokenizer.convert_ids_to_tokens(red[-1]) == "<|endoftext|>"


def test_unknown_text_still_tokenizes_into_pieces(tmp_path: Path) -> None:
    tokenizer = CLIPTokenizer.from_pretrained(write_clip_tokenizer(tmp_path / "tok", ["cat"]))
    ids = tokenizer("zebra!").input_ids
    eos = tokenizer.eos_token_id
    assert len(ids) > 3 and eos not in ids[1:-1]


def test_padding_to_model_max_length(tmp_path: Path) -> None:
    tokenizer = CLIPTokenizer.from_pretrained(write_clip_tokenizer(tmp_path / "tok", ["cat"]))
    assert tokenizer.model_max_length == 77
    assert len(tokenizer("cat", padding="max_length", max_length=77).input_ids) == 77


def test_words_with_spaces_are_refused() -> None:
    with pytest.raises(ValueError, match="words"):
        learn_merges(["two words"])
