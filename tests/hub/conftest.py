"""Fixtures for the local hub tests (the hub server's own tests live in tests/hub/server/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.search import IndexStore, ModelSearcher
from hub.store import Store


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "hub" / "hub.db") as opened:
        yield opened


@pytest.fixture
def index(tmp_path: Path) -> IndexStore:
    return IndexStore(tmp_path / "hub" / "index")


@pytest.fixture
def searcher(index: IndexStore):
    opened = ModelSearcher(index)
    yield opened
    opened.close()
