"""A1111's X/Y/Z value syntax, parsed into typed values.

- comma lists, with CSV quoting for values holding commas: `"a, b", c` -> ["a, b", "c"]
- integer ranges (both ends included): `1-5` -> 1..5, `1-5 (+2)` -> 1, 3, 5,
  `10-1 (-3)` -> 10, 7, 4, 1; counted: `1-10 [5]` -> 1, 3, 5, 7, 10
- float ranges: `0.5-1.5 (+0.25)` -> 0.5, 0.75, ..., 1.5; `0.5-1.5 [5]` -> five values
- ranges and plain values mix: `1-3, 10` -> 1, 2, 3, 10

Every problem raises `ValueSyntaxError` naming the piece of text that is wrong.
"""

from __future__ import annotations

import csv
import io
import math
import re

_NUMBER = r"[+-]?\s*\d+(?:\.\d*)?"
_INT = r"[+-]?\s*\d+"
_INT_RANGE = re.compile(rf"\s*({_INT})\s*-\s*({_INT})\s*(?:\(\s*([+-]\s*\d+)\s*\))?\s*")
_INT_COUNT = re.compile(rf"\s*({_INT})\s*-\s*({_INT})\s*\[\s*(\d+)\s*\]\s*")
_FLOAT_RANGE = re.compile(rf"\s*({_NUMBER})\s*-\s*({_NUMBER})\s*(?:\(\s*([+-]\s*\d+(?:\.\d*)?)\s*\))?\s*")
_FLOAT_COUNT = re.compile(rf"\s*({_NUMBER})\s*-\s*({_NUMBER})\s*\[\s*(\d+)\s*\]\s*")
MAX_VALUES = 1000


class ValueSyntaxError(ValueError):
    def __init__(self, value: str, message: str) -> None:
        super().__init__(f"{value!r}: {message}")
        self.value = value
        self.message = message


def split_list(text: str) -> list[str]:
    """Comma-separated values with CSV quoting; empty pieces dropped, spaces trimmed."""
    rows = list(csv.reader(io.StringIO(text), skipinitialspace=True))
    return [item.strip() for row in rows for item in row if item.strip()]


def join_list(values: list[str]) -> str:
    """The inverse of `split_list`: values joined by ", ", CSV-quoted where they hold a comma
    or a quote (so `split_list(join_list(v)) == v` for trimmed, non-empty values)."""
    return ", ".join(_csv_field(value) for value in values)


def _csv_field(value: str) -> str:
    if "," not in value and '"' not in value:
        return value
    return '"' + value.replace('"', '""') + '"'


def _number(text: str) -> float:
    return float(text.replace(" ", ""))


def _check_count(piece: str, count: int) -> None:
    if count > MAX_VALUES:
        raise ValueSyntaxError(piece, f"expands to {count} values; at most {MAX_VALUES}")


def _int_range(piece: str, start: int, end: int, step: int | None) -> list[int]:
    if step is None:
        step = 1 if end >= start else -1
    if step == 0:
        raise ValueSyntaxError(piece, "the step is 0")
    if (end - start) * step < 0:
        raise ValueSyntaxError(piece, f"a step of {step:+d} never gets from {start} to {end}")
    _check_count(piece, abs(end - start) // abs(step) + 1)
    return list(range(start, end + (1 if step > 0 else -1), step))


def _counted(piece: str, start: float, end: float, count: int) -> list[float]:
    if count < 1:
        raise ValueSyntaxError(piece, "the count in [ ] must be at least 1")
    _check_count(piece, count)
    if count == 1:
        return [start]
    return [start + (end - start) * i / (count - 1) for i in range(count)]


def parse_ints(text: str) -> list[int]:
    values: list[int] = []
    for piece in split_list(text):
        if match := _INT_COUNT.fullmatch(piece):
            start, end, count = int(_number(match[1])), int(_number(match[2])), int(match[3])
            values += [int(value) for value in _counted(piece, start, end, count)]
        elif match := _INT_RANGE.fullmatch(piece):
            step = int(_number(match[3])) if match[3] else None
            values += _int_range(piece, int(_number(match[1])), int(_number(match[2])), step)
        else:
            try:
                values.append(int(piece))
            except ValueError:
                raise ValueSyntaxError(piece, "not an integer or an integer range") from None
    return values


def parse_floats(text: str) -> list[float]:
    values: list[float] = []
    for piece in split_list(text):
        if match := _FLOAT_COUNT.fullmatch(piece):
            values += _counted(piece, _number(match[1]), _number(match[2]), int(match[3]))
        elif match := _FLOAT_RANGE.fullmatch(piece):
            start, end = _number(match[1]), _number(match[2])
            step = _number(match[3]) if match[3] else (1.0 if end >= start else -1.0)
            if step == 0:
                raise ValueSyntaxError(piece, "the step is 0")
            if (end - start) * step < 0:
                raise ValueSyntaxError(piece, f"a step of {step:+g} never gets from {start:g} to {end:g}")
            count = math.floor((end - start) / step + 1e-9) + 1
            _check_count(piece, count)
            values += [round(start + i * step, 10) for i in range(count)]
        else:
            try:
                number = float(piece)
            except ValueError:
                raise ValueSyntaxError(piece, "not a number or a number range") from None
            if not math.isfinite(number):
                raise ValueSyntaxError(piece, "not a finite number")
            values.append(number)
    return values


def parse_strings(text: str) -> list[str]:
    return split_list(text)
