"""Turning X/Y/Z arguments into a checked plan: axes with typed values, and every cell's request.

Everything is checked here, before the first cell runs: value syntax, names (samplers,
checkpoints ...), and each cell's request (`studio.request.validate`). An error names the axis
and the value. Cells are `dataclasses.replace()` copies of the base request, ordered so the
costliest axis (checkpoint, then VAE) runs in the outer loop.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from studio.request import MAX_SEED, GenerationRequest, RequestError, validate
from studio.scripts.base import Choices
from studio.scripts.builtin.xyz.axes import Axis, find_axis
from studio.scripts.builtin.xyz.values import ValueSyntaxError, split_list

MAX_CELLS = 1000
LETTERS = ("x", "y", "z")


class AxisValueError(RequestError):
    """A bad axis value: `field` is e.g. `scripts.X/Y/Z plot.x_values`."""

    def __init__(self, script: str, letter: str, axis: str, value: str, message: str) -> None:
        super().__init__(
            f"scripts.{script}.{letter}_values", f"{letter.upper()} axis ({axis}), value {value!r}: {message}"
        )
        self.axis = axis
        self.value = value


@dataclass(frozen=True)
class AxisPlan:
    letter: str
    axis: Axis
    values: tuple[Any, ...]
    text: str  # the values as given, for the infotext

    @property
    def labels(self) -> list[str]:
        return [self.axis.label(value) for value in self.values]


@dataclass(frozen=True)
class Cell:
    index: tuple[int, int, int]  # (x, y, z)
    request: GenerationRequest


@dataclass(frozen=True)
class Plan:
    axes: tuple[AxisPlan, AxisPlan, AxisPlan]
    cells: tuple[Cell, ...]  # in run order
    base: GenerationRequest  # with the fixed seeds

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(len(plan.values) for plan in self.axes)  # type: ignore[return-value]


def _axis_plan(
    script: str, letter: str, args: Mapping[str, Any], base: GenerationRequest, choices: Choices
) -> AxisPlan:
    axis_name = args[f"{letter}_type"]
    try:
        axis = find_axis(axis_name, img2img=base.mode != "txt2img")
    except KeyError as error:
        raise RequestError(f"scripts.{script}.{letter}_type", str(error.args[0])) from None
    dropdown = list(args.get(f"{letter}_values_dropdown") or [])
    text = str(args.get(f"{letter}_values") or "")
    if axis.choices is not None and dropdown and not args.get("csv_mode"):
        text = ", ".join(f'"{value}"' if "," in value else value for value in dropdown)
    if axis.name == "Nothing":
        return AxisPlan(letter, axis, ("",), "")
    try:
        values = axis.parse(text)
    except ValueSyntaxError as error:
        raise AxisValueError(script, letter, axis.name, error.value, error.message) from None
    if not values:
        raise AxisValueError(script, letter, axis.name, text, "no values given")
    valid = axis.choices(choices) if axis.choices else None
    if valid is not None:
        lowered = {name.lower(): name for name in valid}
        checked = []
        for value in values:
            if value.lower() not in lowered:
                raise AxisValueError(
                    script, letter, axis.name, value, f"unknown; choose from: {', '.join(valid)}"
                )
            checked.append(lowered[value.lower()])
        values = checked
    if axis.name == "Prompt S/R":
        search = values[0][0]
        if search not in base.prompt and search not in base.negative_prompt:
            raise AxisValueError(
                script, letter, axis.name, search, "not found in the prompt or the negative prompt"
            )
    if axis.name == "Prompt order":
        missing = [term for term in split_list(text) if term not in base.prompt]
        if missing:
            raise AxisValueError(script, letter, axis.name, missing[0], "not found in the prompt")
    return AxisPlan(letter, axis, tuple(values), text)


def _validate(request: GenerationRequest, choices: Choices) -> None:
    validate(
        request,
        samplers=choices.samplers,
        schedulers=choices.schedulers,
        models=choices.checkpoints,
        vaes=choices.vaes,
    )


def make_plan(script: str, base: GenerationRequest, args: Mapping[str, Any], choices: Choices) -> Plan:
    """Check everything and build the cells; raises RequestError (AxisValueError) on bad input."""
    axes = tuple(_axis_plan(script, letter, args, base, choices) for letter in LETTERS)
    count = len(axes[0].values) * len(axes[1].values) * len(axes[2].values)
    if count > MAX_CELLS:
        raise RequestError(f"scripts.{script}", f"{count} cells; at most {MAX_CELLS}")
    if not args.get("no_fixed_seeds"):
        generator = random.Random()
        if base.seed == -1:
            base = dataclasses.replace(base, seed=generator.randrange(MAX_SEED + 1))
        if base.subseed == -1:
            base = dataclasses.replace(base, subseed=generator.randrange(MAX_SEED + 1))
    for plan in axes:
        for value in plan.values:
            try:
                _validate(plan.axis.apply(base, value), choices)
            except RequestError as error:
                raise AxisValueError(
                    script, plan.letter, plan.axis.name, plan.axis.format(value), str(error)
                ) from None

    # loop order: costliest axis outermost; ties keep Z outside Y outside X
    order = sorted((2, 1, 0), key=lambda i: -axes[i].axis.cost)
    cells = []
    for combination in itertools.product(*(range(len(axes[i].values)) for i in order)):
        index = [0, 0, 0]
        for position, axis_index in zip(order, combination, strict=True):
            index[position] = axis_index
        request = base
        for plan, value_index in zip(axes, index, strict=True):
            request = plan.axis.apply(request, plan.values[value_index])
        offset = sum(
            i
            for i, flag in zip(index, ("vary_seeds_x", "vary_seeds_y", "vary_seeds_z"), strict=True)
            if args.get(flag)
        )
        if offset and request.seed != -1:
            request = dataclasses.replace(request, seed=(request.seed + offset) % (MAX_SEED + 1))
        try:
            _validate(request, choices)
        except RequestError as error:
            labels = ", ".join(
                plan.axis.label(plan.values[i])
                for plan, i in zip(axes, index, strict=True)
                if plan.axis.name != "Nothing"
            )
            raise RequestError(f"scripts.{script}", f"cell ({labels}): {error}") from None
        cells.append(Cell((index[0], index[1], index[2]), request))
    return Plan(axes, tuple(cells), base)  # type: ignore[arg-type]
