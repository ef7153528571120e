import json

import pytest

from studio.infotext import parse_infotext
from studio.scripts.builtin.xyz.values import (
    ValueSyntaxError,
    join_list,
    parse_floats,
    parse_ints,
    parse_strings,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1-5", [1, 2, 3, 4, 5]),
        ("1-5 (+2)", [1, 3, 5]),
        ("10-1 (-3)", [10, 7, 4, 1]),
        ("1-10 [5]", [1, 3, 5, 7, 10]),
        ("1-3, 10", [1, 2, 3, 10]),
        ("5-1", [5, 4, 3, 2, 1]),
        ("-1, 7", [-1, 7]),
        ("-5--3", [-5, -4, -3]),
        ("  4 ,, 8 ", [4, 8]),
        ("3-3", [3]),
    ],
)
def test_integer_syntax(text, expected):
    assert parse_ints(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.5-1.5 (+0.25)", [0.5, 0.75, 1.0, 1.25, 1.5]),
        ("0.5-1.5 [5]", [0.5, 0.75, 1.0, 1.25, 1.5]),
        ("1.5-0.5 (-0.5)", [1.5, 1.0, 0.5]),
        ("7, 7.5, 12", [7.0, 7.5, 12.0]),
        ("0.1-0.3 (+0.1)", [0.1, 0.2, 0.3]),
        ("1-2", [1.0, 2.0]),
    ],
)
def test_float_syntax(text, expected):
    assert parse_floats(text) == pytest.approx(expected)


def test_comma_lists_honour_quotes():
    assert parse_strings('"a, b", c') == ["a, b", "c"]
    assert parse_strings("Euler a, DPM++ 2M ,DDIM") == ["Euler a", "DPM++ 2M", "DDIM"]
    assert parse_strings("") == []


def test_joined_lists_split_back_even_with_commas_and_quotes():
    values = ["a red circle", "a blue square, white background", 'a "quoted" star', "Euler a"]
    joined = join_list(values)
    assert parse_strings(joined) == values
    assert join_list(["1", "2", "3"]) == "1, 2, 3"
    # as the grid's infotext writes it (a JSON-quoted value), it survives the PNG Info parser
    infotext = f"a red circle\nSteps: 20, Y Type: Prompt S/R, Y Values: {json.dumps(joined)}"
    assert parse_strings(parse_infotext(infotext)["Y Values"]) == values


@pytest.mark.parametrize(
    ("parse", "text", "bad", "message"),
    [
        (parse_ints, "1, two, 3", "two", "not an integer"),
        (parse_ints, "1.5", "1.5", "not an integer"),
        (parse_ints, "1-5 (+0)", "1-5 (+0)", "step is 0"),
        (parse_ints, "1-5 (-1)", "1-5 (-1)", "never gets from 1 to 5"),
        (parse_ints, "1-10 [0]", "1-10 [0]", "at least 1"),
        (parse_ints, "1-100000", "1-100000", "at most"),
        (parse_floats, "0.5-x", "0.5-x", "not a number"),
        (parse_floats, "nan", "nan", "finite"),
        (parse_floats, "2-1 (+0.5)", "2-1 (+0.5)", "never gets"),
    ],
)
def test_errors_name_the_bad_piece(parse, text, bad, message):
    with pytest.raises(ValueSyntaxError) as caught:
        parse(text)
    assert caught.value.value == bad
    assert message in caught.value.message
