import pytest

from studio.scripts.params import Param, ParamSet, ScriptArgsError

PARAMS = ParamSet(
    "demo",
    (
        Param("strength", "float", default=0.5, minimum=0, maximum=1),
        Param("count", "int", default=2, minimum=1, maximum=10),
        Param("mode", "choice", default="a", choices=("a", "b")),
        Param("enabled", "bool", default=True),
        Param("tags", "list", default=()),
    ),
)


def test_defaults_are_filled_and_values_converted():
    assert PARAMS.resolve({"count": "3", "enabled": "false"}) == {
        "strength": 0.5,
        "count": 3,
        "mode": "a",
        "enabled": False,
        "tags": [],
    }


@pytest.mark.parametrize(
    ("given", "param", "message"),
    [
        ({"strength": 2}, "strength", "above the maximum"),
        ({"count": 1.5}, "count", "integer"),
        ({"mode": "c"}, "mode", "choose one of: a, b"),
        ({"enabled": "maybe"}, "enabled", "true or false"),
        ({"tags": "x"}, "tags", "a list"),
        ({"nope": 1}, "nope", "unknown parameter"),
    ],
)
def test_bad_values_name_script_and_param(given, param, message):
    with pytest.raises(ScriptArgsError) as caught:
        PARAMS.resolve(given)
    assert caught.value.field == f"scripts.demo.{param}"
    assert message in str(caught.value)


def test_a1111_positional_args_map_onto_names_by_order():
    assert PARAMS.from_list([0.25, 4]) == {"strength": 0.25, "count": 4}
    with pytest.raises(ScriptArgsError, match="6 positional args"):
        PARAMS.from_list([1, 2, 3, 4, 5, 6])


def test_json_schema_describes_every_param():
    schema = PARAMS.json_schema()
    assert schema["additionalProperties"] is False
    assert schema["properties"]["strength"] == {
        "title": "Strength", "type": "number", "minimum": 0, "maximum": 1, "default": 0.5,
    }  # fmt: skip
    assert schema["properties"]["mode"]["enum"] == ["a", "b"]
    assert schema["properties"]["tags"]["type"] == "array"
