"""Typed script parameters: one declaration gives validation, a JSON schema and UI controls.

A script lists its parameters as `Param`s. Values always travel by name
(`request.scripts["my script"] = {"strength": 0.5}`); `resolve_args` fills defaults, converts
and checks them, and raises `ScriptArgsError` naming the script and parameter. The A1111 form
(a positional `args` list) is mapped onto names by the declared order in `args_from_list`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from studio.request import RequestError

ParamType = Literal["int", "float", "bool", "str", "text", "choice", "multichoice", "list"]

_JSON_TYPES: dict[str, str] = {
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "str": "string",
    "text": "string",
    "choice": "string",
}


class ScriptArgsError(RequestError):
    """A script parameter holds a bad value; `field` is `scripts.<script>.<param>`."""

    def __init__(self, script: str, param: str, message: str) -> None:
        super().__init__(f"scripts.{script}.{param}" if param else f"scripts.{script}", message)
        self.script = script
        self.param = param


@dataclass(frozen=True)
class Param:
    """One named, typed script parameter.

    `type`: int, float, bool, str (one line), text (several lines), choice (one of `choices`),
    multichoice (a list of `choices`). `minimum`/`maximum` bound numbers, `step` is a UI hint.
    """

    name: str
    type: ParamType
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()
    label: str = ""
    help: str = ""

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    def convert(self, script: str, value: Any) -> Any:
        """The value converted to this parameter's type, or ScriptArgsError naming it."""

        def fail(message: str) -> ScriptArgsError:
            return ScriptArgsError(script, self.name, message)

        if self.type == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.lower() in ("true", "1", "yes")
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise fail(f"expected true or false, got {value!r}")
        if self.type in ("int", "float"):
            if isinstance(value, bool):
                raise fail(f"expected a number, got {value!r}")
            try:
                number = float(value) if self.type == "float" else _to_int(value)
            except (TypeError, ValueError):
                raise fail(
                    f"expected {'an integer' if self.type == 'int' else 'a number'}, got {value!r}"
                ) from None
            if self.minimum is not None and number < self.minimum:
                raise fail(f"{number} is below the minimum {self.minimum}")
            if self.maximum is not None and number > self.maximum:
                raise fail(f"{number} is above the maximum {self.maximum}")
            return number
        if self.type in ("str", "text"):
            if not isinstance(value, str):
                raise fail(f"expected a string, got {value!r}")
            return value
        if self.type == "choice":
            if value not in self.choices:
                raise fail(f"unknown value {value!r}; choose one of: {', '.join(self.choices)}")
            return value
        if self.type == "multichoice":
            if isinstance(value, str) or not isinstance(value, Sequence):
                raise fail(f"expected a list, got {value!r}")
            unknown = [item for item in value if item not in self.choices]
            if unknown:
                raise fail(f"unknown value {unknown[0]!r}; choose from: {', '.join(self.choices)}")
            return list(value)
        if self.type == "list":
            if isinstance(value, str) or not isinstance(value, Sequence):
                raise fail(f"expected a list, got {value!r}")
            return [str(item) for item in value]
        raise fail(f"unknown parameter type {self.type!r}")

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"title": self.title}
        if self.type == "multichoice":
            schema.update(type="array", items={"type": "string", "enum": list(self.choices)})
        elif self.type == "list":
            schema.update(type="array", items={"type": "string"})
        else:
            schema["type"] = _JSON_TYPES[self.type]
        if self.type == "choice":
            schema["enum"] = list(self.choices)
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.default is not None:
            schema["default"] = self.default
        if self.help:
            schema["description"] = self.help
        return schema


def _to_int(value: Any) -> int:
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(value)
        return int(value)
    return int(value)


@dataclass(frozen=True)
class ParamSet:
    """The ordered parameters of one script."""

    script: str
    params: tuple[Param, ...] = field(default_factory=tuple)

    def names(self) -> list[str]:
        return [param.name for param in self.params]

    def resolve(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """Defaults overlaid with `given` (by name), every value converted and checked."""
        given = dict(given or {})
        by_name = {param.name: param for param in self.params}
        unknown = sorted(set(given) - set(by_name))
        if unknown:
            raise ScriptArgsError(
                self.script, unknown[0], f"unknown parameter; known: {', '.join(self.names()) or 'none'}"
            )
        values = {}
        for param in self.params:
            value = given.get(param.name, param.default)
            values[param.name] = None if value is None else param.convert(self.script, value)
        return values

    def from_list(self, args: Sequence[Any]) -> dict[str, Any]:
        """A1111's positional `args` list mapped onto names by declaration order."""
        if len(args) > len(self.params):
            raise ScriptArgsError(
                self.script,
                "",
                f"got {len(args)} positional args, the script takes {len(self.params)}: {', '.join(self.names())}",
            )
        return {param.name: value for param, value in zip(self.params, args, strict=False)}

    def json_schema(self) -> dict[str, Any]:
        return {
            "title": self.script,
            "type": "object",
            "properties": {param.name: param.json_schema() for param in self.params},
            "additionalProperties": False,
        }
