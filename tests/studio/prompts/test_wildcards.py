"""Dynamic Prompts syntax: choices and wildcards, chosen from the seed."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.prompts import wildcards
from studio.prompts.wildcards import WildcardLibrary
from studio.request import RequestError


@pytest.fixture
def library(tmp_path: Path) -> WildcardLibrary:
    folder = tmp_path / "wildcards"
    (folder / "animals").mkdir(parents=True)
    (folder / "colors.txt").write_text("# a comment\nred\n\ngreen\nblue\n", encoding="utf-8")
    (folder / "animals" / "cats.txt").write_text("tabby cat\nblack cat\n", encoding="utf-8")
    (folder / "animals" / "dogs.txt").write_text("corgi\n", encoding="utf-8")
    (folder / "pet.txt").write_text("__colors__ __animals/*__\n", encoding="utf-8")
    (folder / "loop.txt").write_text("again __loop__\n", encoding="utf-8")
    return WildcardLibrary(folder)


def outcomes(text: str, library: WildcardLibrary | None = None, seeds: int = 200) -> set[str]:
    return {wildcards.resolve(text, seed, library) for seed in range(seeds)}


def test_choices_are_made_from_the_seed() -> None:
    text = "a {red|green|blue} ball"
    assert outcomes(text) == {"a red ball", "a green ball", "a blue ball"}
    assert all(
        wildcards.resolve(text, seed, None) == wildcards.resolve(text, seed, None) for seed in range(20)
    )


def test_counts_separators_weights_and_nesting() -> None:
    two = outcomes("{2$$a|b|c}")
    assert two == {"a, b", "a, c", "b, a", "b, c", "c, a", "c, b"}
    assert outcomes("{2$$ and $$a|b}") == {"a and b", "b and a"}
    assert {len(x.split(", ")) if x else 0 for x in outcomes("{1-3$$a|b|c}")} == {1, 2, 3}
    assert "" in outcomes("{-1$$a|b}")
    assert outcomes("{0::never|1::always}") == {"always"}
    assert outcomes("{big {red|blue}|small}") == {"big red", "big blue", "small"}
    assert outcomes("{a|}") == {"a", ""}


def test_a1111_syntax_and_escapes_are_left_alone() -> None:
    text = "[cow|horse] (cat:1.2) <lora:x:0.5> a | b \\{not\\} \\(x\\)"
    assert wildcards.resolve(text, 1, None) == "[cow|horse] (cat:1.2) <lora:x:0.5> a | b {not} \\(x\\)"
    assert not wildcards.is_dynamic("[cow|horse] \\{x\\}")
    assert wildcards.is_dynamic("__colors__") and wildcards.is_dynamic("{a|b}")


def test_wildcards_nested_globs_and_recursion(library: WildcardLibrary) -> None:
    assert library.names() == ["animals/cats", "animals/dogs", "colors", "loop", "pet"]
    assert outcomes("__colors__", library) == {"red", "green", "blue"}
    assert outcomes("__animals/cats__", library) == {"tabby cat", "black cat"}
    pets = outcomes("__pet__", library)
    assert "red corgi" in pets and "blue black cat" in pets and len(pets) == 9
    with pytest.raises(RequestError, match="nest deeper"):
        wildcards.resolve("__loop__", 1, library)


def test_bad_templates_name_the_field(library: WildcardLibrary) -> None:
    with pytest.raises(RequestError) as error:
        wildcards.check("a __nope__ and __colors__ and __gone__", library, "negative_prompt")
    assert error.value.field == "negative_prompt"
    assert "__nope__, __gone__" in error.value.message and "known: animals/cats" in error.value.message
    with pytest.raises(RequestError, match="never closed"):
        wildcards.check("a {red|blue", library)
    with pytest.raises(RequestError, match="no opening"):
        wildcards.check("a red}", library)
    wildcards.check("__pet__ {a|b}", library)  # fine


def test_a_wildcard_file_edit_shows_up(library: WildcardLibrary) -> None:
    first = library.fresh()
    assert first.values("animals/dogs") == ["corgi"]
    (library.folder / "animals" / "dogs.txt").write_text("beagle\n", encoding="utf-8")
    assert library.fresh().values("animals/dogs") == ["beagle"]
