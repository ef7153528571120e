from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from studio.history import HistoryStore
from studio.request import GenerationRequest


def test_add_get_list_count_search(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "atelier.db")
    base = GenerationRequest(prompt="a red cat", seed=1, init_images=(b"\x89PNG fake",))
    first = store.add(
        base, seed=1, path="/out/1.png", infotext="a red cat\nSteps: 20", timings={"denoise": 1.5}
    )
    second = store.add(replace(base, prompt="a blue dog 100%"), seed=2, path=None, infotext="x")
    entry = store.get(first)
    assert entry is not None
    assert entry.seed == 1 and entry.path == "/out/1.png" and entry.timings == {"denoise": 1.5}
    assert entry.request["prompt"] == "a red cat"
    assert entry.request["init_images"][0].startswith("sha256:")  # bytes are not stored
    assert store.get(999) is None
    assert [e.id for e in store.list()] == [second, first]  # newest first
    assert [e.id for e in store.list(offset=1, limit=1)] == [first]
    assert store.count() == 2
    assert store.count("red") == 1 and store.list(query="RED")[0].id == first
    assert store.count("100%") == 1 and store.count("%") == 1 and store.count("_") == 0


def test_persists_in_the_studio_database(tmp_path: Path) -> None:
    db = tmp_path / "atelier.db"
    HistoryStore(db).add(GenerationRequest(prompt="p"), seed=3, path=None, infotext="p")
    assert HistoryStore(db).count() == 1
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT seed FROM history").fetchone() == (3,)


def test_search_infotext_fields_filters_and_delete(tmp_path: Path) -> None:
    from studio.history import HistoryFilter

    store = HistoryStore(tmp_path / "atelier.db")
    made = tmp_path / "made.png"
    made.write_bytes(b"png")
    txt = store.add(
        GenerationRequest(prompt="a lighthouse"),
        seed=4242,
        path=str(made),
        infotext="a lighthouse\nSteps: 4, Sampler: Heun, Seed: 4242, Model: tiny",
        created_at=1_000,
    )
    img = store.add(
        GenerationRequest(prompt="a harbour", init_images=(b"img",)),
        seed=7,
        path=None,
        infotext="a harbour\nSteps: 4, Sampler: Euler a, Seed: 7, Model: other, Denoising strength: 0.5",
        created_at=2_000,
    )
    inpaint = store.add(
        GenerationRequest(prompt="a boat", init_images=(b"img",), mask=b"mask"),
        seed=8,
        path=None,
        infotext="a boat\nSteps: 4, Sampler: Heun, Seed: 8, Model: tiny, Mask blur: 4",
        created_at=3_000,
    )
    ids = lambda query=None, **kw: [e.id for e in store.list(query=query, filters=HistoryFilter(**kw))]  # noqa: E731
    assert ids("ighthou") == [txt]  # a substring of the prompt
    assert ids("heun") == [inpaint, txt] and ids("4242") == [txt] and ids("Model: other") == [img]
    assert ids(model="tiny") == [inpaint, txt] and ids(model="tin") == []
    assert ids(mode="txt2img") == [txt] and ids(mode="img2img") == [img] and ids(mode="inpaint") == [inpaint]
    assert ids(since=1_500) == [inpaint, img] and ids(since=1_500, until=2_500) == [img]
    assert store.count("heun", HistoryFilter(mode="inpaint")) == 1

    assert store.delete(txt) and not made.exists() and store.get(txt) is None
    assert not store.delete(txt)
    assert store.count() == 2


def test_a_grid_is_an_entry_that_lists_its_cells(tmp_path: Path) -> None:
    from studio.history import HistoryFilter

    store = HistoryStore(tmp_path / "atelier.db")
    base = GenerationRequest(prompt="a red cat", seed=1)
    cells = [store.add(base, seed=i, path=f"/out/{i}.png", infotext=f"Seed: {i}") for i in (1, 2)]
    other = store.add(base, seed=3, path="/out/3.png", infotext="Seed: 3")
    grid = store.add_grid(
        base,
        seed=1,
        path="/out/grids/g.png",
        infotext="X Type: Seed",
        cell_paths=["/out/1.png", "/out/2.png"],
    )
    entry = store.get(grid)
    assert entry is not None and entry.kind == "grid" and entry.grid_id is None
    assert [cell.id for cell in store.cells(grid)] == cells
    assert [e.id for e in store.list(filters=HistoryFilter(kind="grid"))] == [grid]
    assert store.count(None, HistoryFilter(kind="image")) == 3
    assert sorted(e.id for e in store.list(filters=HistoryFilter(grid_id=grid))) == cells
    assert store.get(other).grid_id is None  # type: ignore[union-attr]
    assert store.delete(grid)
    assert store.cells(grid) == [] and store.count() == 3  # the cells stay, as images
