"""Small pieces of SQL text the store's queries share."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

# Ids per `IN (...)` list: well under SQLite's limit on bound parameters.
IN_LIST_CHUNK = 500


def placeholders(values: Sequence[Any]) -> str:
    """`?,?,?`: one parameter per value, for an `IN (...)` list."""
    return ",".join("?" * len(values))


def chunks(values: list[Any], size: int = IN_LIST_CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def escape_like(text: str) -> str:
    """`text` as a literal inside a LIKE pattern that uses `ESCAPE '\\'`."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
