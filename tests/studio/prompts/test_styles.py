"""Styles as A1111 applies, stores and finds them back (modules/styles.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.prompts.styles import (
    PromptStyle,
    StyleLibrary,
    apply_style_texts,
    extract_styles,
    merge_prompts,
    parse_styles_csv,
)
from studio.request import RequestError

A1111_CSV = (
    "\ufeffname,prompt,negative_prompt\r\n"
    'Cinematic,"cinematic still of {prompt}, film grain","cartoon, drawing"\r\n'
    "Sharp,highly detailed,blurry\r\n"
    '# comment,"skipped",""\r\n'
    ",no name,\r\n"
)


def test_merge_follows_a1111() -> None:
    assert merge_prompts("cinematic still of {prompt}, grain", "a cat") == "cinematic still of a cat, grain"
    assert merge_prompts("highly detailed", " a cat ") == "a cat, highly detailed"
    assert merge_prompts("highly detailed", "") == "highly detailed"
    assert merge_prompts("", "a cat") == "a cat"
    # each style applies to the result of the one before
    assert apply_style_texts("a cat", ["{prompt}, sharp", "photo of {prompt}"]) == "photo of a cat, sharp"


def test_an_a1111_file_reads_as_a1111_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "styles.csv"
    path.write_bytes(A1111_CSV.encode("utf-8"))
    library = StyleLibrary(path)
    assert library.names() == ["Cinematic", "Sharp"]
    assert library.get("Cinematic") == PromptStyle(
        "Cinematic", "cinematic still of {prompt}, film grain", "cartoon, drawing"
    )
    prompt, negative = library.apply("a cat", "ugly", ["Cinematic", "Sharp"])
    assert prompt == "cinematic still of a cat, film grain, highly detailed"
    assert negative == "ugly, cartoon, drawing, blurry"


def test_the_oldest_format_with_a_text_column() -> None:
    assert parse_styles_csv("name,text\nOld,oil painting\n") == [PromptStyle("Old", "oil painting", "")]


def test_extract_finds_the_styles_back_in_order() -> None:
    styles = [
        PromptStyle("Cinematic", "cinematic still of {prompt}, film grain", "cartoon"),
        PromptStyle("Sharp", "highly detailed", "blurry"),
    ]
    prompt = apply_style_texts("a cat", [s.prompt for s in styles])
    negative = apply_style_texts("ugly", [s.negative_prompt for s in styles])
    assert extract_styles(styles, prompt, negative) == (["Cinematic", "Sharp"], "a cat", "ugly")
    # a negative prompt that does not end with the style's negative text: not that style
    assert extract_styles(styles[1:], "a cat, highly detailed", "ugly") == (
        [],
        "a cat, highly detailed",
        "ugly",
    )


def test_create_update_rename_delete_keep_the_a1111_format(tmp_path: Path) -> None:
    library = StyleLibrary(tmp_path / "styles.csv")
    assert library.styles() == []
    library.save(PromptStyle("Sharp", "highly detailed", "blurry"))
    library.save(PromptStyle("Warm", "warm light, {prompt}", ""))
    library.save(PromptStyle("Sharp", "very detailed", "blurry, soft"))
    assert library.names() == ["Sharp", "Warm"]
    library.save(PromptStyle("Crisp", "very detailed", ""), replace="Sharp")
    assert library.names() == ["Crisp", "Warm"]
    raw = (tmp_path / "styles.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfname,prompt,negative_prompt\r\n")
    assert (tmp_path / "styles.csv.bak").exists()
    library.delete("Crisp")
    assert library.names() == ["Warm"]
    with pytest.raises(RequestError, match="no style named 'Crisp'"):
        library.delete("Crisp")


def test_bad_styles_are_refused_naming_the_field(tmp_path: Path) -> None:
    library = StyleLibrary(tmp_path / "styles.csv")
    library.save(PromptStyle("A", "a", ""))
    with pytest.raises(RequestError) as error:
        library.save(PromptStyle("  ", "x", ""))
    assert error.value.field == "name"
    with pytest.raises(RequestError) as error:
        library.save(PromptStyle("B", "x", ""), replace="missing")
    assert error.value.field == "replace"
    with pytest.raises(RequestError) as error:
        library.apply("p", "", ["A", "nope", "gone"])
    assert error.value.field == "styles" and "'nope', 'gone'" in error.value.message
    with pytest.raises(RequestError) as error:
        library.import_csv("title,body\nx,y\n")
    assert error.value.field == "file" and "name, prompt, negative_prompt" in error.value.message


def test_import_merges(tmp_path: Path) -> None:
    library = StyleLibrary(tmp_path / "styles.csv")
    library.save(PromptStyle("Sharp", "old", ""))
    library.save(PromptStyle("Mine", "kept", ""))
    assert library.import_csv(A1111_CSV) == ["Cinematic", "Sharp"]
    assert library.names() == ["Sharp", "Mine", "Cinematic"]
    assert library.get("Sharp").prompt == "highly detailed"
