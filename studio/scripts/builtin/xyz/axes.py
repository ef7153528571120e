"""The X/Y/Z axes: what each one changes in a request, how its values parse, what it costs.

An axis never touches shared state: `apply(request, value)` returns a new request made with
`dataclasses.replace`. `cost` orders the loops: the costliest axis (a checkpoint switch) runs
outermost so each model loads once per value. `A1111_TXT2IMG` / `A1111_IMG2IMG` list A1111's
axis order so its integer `x_type` maps onto our names (axes we do not have raise an error).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from studio.request import GenerationRequest
from studio.scripts.base import Choices
from studio.scripts.builtin.xyz.values import ValueSyntaxError, parse_floats, parse_ints, parse_strings

Apply = Callable[[GenerationRequest, Any], GenerationRequest]


@dataclass(frozen=True)
class Axis:
    name: str
    parse: Callable[[str], list[Any]]
    apply: Apply
    cost: float = 0.0
    choices: Callable[[Choices], Sequence[str] | None] | None = None
    aliases: tuple[str, ...] = ()

    def format(self, value: Any) -> str:
        if self.name == "Prompt S/R":
            return str(value[1])
        if isinstance(value, tuple):
            return ", ".join(value)
        if isinstance(value, float):
            return f"{value:g}"
        return str(value)

    def label(self, value: Any) -> str:
        """The legend text of one value ("Steps: 10"; S/R and order show just the value)."""
        if self.name in ("Prompt S/R", "Prompt order", "Nothing"):
            return self.format(value)
        return f"{self.name}: {self.format(value)}"


def _field(name: str) -> Apply:
    return lambda request, value: dataclasses.replace(request, **{name: value})


def _nothing(request: GenerationRequest, value: Any) -> GenerationRequest:
    return request


def _size(request: GenerationRequest, value: tuple[int, int]) -> GenerationRequest:
    return dataclasses.replace(request, width=value[0], height=value[1])


def _parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for piece in parse_strings(text):
        match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", piece)
        if not match:
            raise ValueSyntaxError(piece, "not a size like 512x768")
        sizes.append((int(match[1]), int(match[2])))
    return sizes


def _prompt_sr(request: GenerationRequest, value: tuple[str, str]) -> GenerationRequest:
    search, replacement = value
    return dataclasses.replace(
        request,
        prompt=request.prompt.replace(search, replacement),
        negative_prompt=request.negative_prompt.replace(search, replacement),
    )


def _parse_sr(text: str) -> list[tuple[str, str]]:
    values = parse_strings(text)
    if not values:
        return []
    return [(values[0], value) for value in values]


def _parse_order(text: str) -> list[tuple[str, ...]]:
    return list(itertools.permutations(parse_strings(text)))


def _prompt_order(request: GenerationRequest, order: tuple[str, ...]) -> GenerationRequest:
    """Put the listed terms into the prompt in `order`, at the places they occupied."""
    prompt = request.prompt
    found = sorted((prompt.index(term), term) for term in order if term in prompt)
    if len(found) != len(order):
        return request
    pieces, cursor = [], 0
    for (position, term), replacement in zip(found, order, strict=True):
        pieces += [prompt[cursor:position], replacement]
        cursor = position + len(term)
    pieces.append(prompt[cursor:])
    return dataclasses.replace(request, prompt="".join(pieces))


def _vae_choices(choices: Choices) -> Sequence[str] | None:
    return None if choices.vaes is None else ("Automatic", "None", *choices.vaes)


AXES: tuple[Axis, ...] = (
    Axis("Nothing", lambda text: [""], _nothing),
    Axis("Seed", parse_ints, _field("seed")),
    Axis("Var. seed", parse_ints, _field("subseed")),
    Axis("Var. strength", parse_floats, _field("subseed_strength")),
    Axis("Steps", parse_ints, _field("steps")),
    Axis("CFG Scale", parse_floats, _field("cfg_scale"), aliases=("CFG", "cfg_scale")),
    Axis("Prompt S/R", _parse_sr, _prompt_sr, aliases=("Prompt SR",)),
    Axis("Prompt order", _parse_order, _prompt_order),
    Axis(
        "Sampler",
        parse_strings,
        _field("sampler_name"),
        choices=lambda c: c.samplers,
        aliases=("sampler_name",),
    ),
    Axis(
        "Checkpoint name",
        parse_strings,
        _field("model"),
        cost=1.0,
        choices=lambda c: c.checkpoints,
        aliases=("Checkpoint", "model"),
    ),
    Axis(
        "Schedule type",
        parse_strings,
        _field("scheduler"),
        choices=lambda c: c.schedulers,
        aliases=("Scheduler",),
    ),
    Axis("Clip skip", parse_ints, _field("clip_skip"), aliases=("clip_skip",)),
    Axis(
        "Denoising",
        parse_floats,
        _field("denoising_strength"),
        aliases=("Denoising strength", "denoising_strength"),
    ),
    # hires fix axes (they change the second pass when the request has enable_hr on)
    Axis("Hires upscale", parse_floats, _field("hr_scale"), aliases=("hr_scale",)),
    Axis("Hires steps", parse_ints, _field("hr_second_pass_steps"), aliases=("hr_second_pass_steps",)),
    Axis("Hires upscaler", parse_strings, _field("hr_upscaler"), aliases=("hr_upscaler",)),
    Axis(
        "Hires sampler",
        parse_strings,
        _field("hr_sampler_name"),
        choices=lambda c: c.samplers,
        aliases=("hr_sampler_name",),
    ),
    Axis("VAE", parse_strings, _field("vae"), cost=0.7, choices=_vae_choices),
    Axis("Width", parse_ints, _field("width")),
    Axis("Height", parse_ints, _field("height")),
    Axis("Size", _parse_sizes, _size),
)

# A1111 (1.10) axis lists as its API numbers them (x_type = index); None = not supported here.
_A1111_ALL = (
    ("Nothing", ""), ("Seed", ""), ("Var. seed", ""), ("Var. strength", ""), ("Steps", ""),
    ("Hires steps", "t"), ("CFG Scale", ""), ("Image CFG Scale", "i"), ("Prompt S/R", ""),
    ("Prompt order", ""), ("Sampler", "t"), ("Hires sampler", "t"), ("Sampler", "i"),
    ("Checkpoint name", ""), ("Negative Guidance minimum sigma", ""), ("Sigma Churn", ""),
    ("Sigma min", ""), ("Sigma max", ""), ("Sigma noise", ""), ("Schedule type", ""),
    ("Schedule min sigma", ""), ("Schedule max sigma", ""), ("Schedule rho", ""), ("Eta", ""),
    ("Clip skip", ""), ("Denoising", ""), ("Initial noise multiplier", ""), ("Extra noise", ""),
    ("Hires upscaler", "t"), ("Cond. Image Mask Weight", "i"), ("VAE", ""), ("Styles", ""),
    ("UniPC Order", ""), ("Face restore", ""), ("Token merging ratio", ""),
    ("Token merging ratio high-res", ""), ("Always discard next-to-last sigma", ""),
    ("SGM noise multiplier", ""), ("Refiner checkpoint", ""), ("Refiner switch at", ""),
    ("RNG source", ""), ("FP8 mode", ""), ("Size", ""),
)  # fmt: skip
A1111_TXT2IMG = tuple(name for name, only in _A1111_ALL if only in ("", "t"))
A1111_IMG2IMG = tuple(name for name, only in _A1111_ALL if only in ("", "i"))


def axis_value_choices(name: str, choices: Choices) -> list[str] | None:
    """The values a name axis offers (for the UI's value dropdown), or None for typed axes."""
    axis = find_axis(name)
    found = axis.choices(choices) if axis.choices else None
    return None if found is None else list(found)


def axis_names() -> list[str]:
    return [axis.name for axis in AXES]


def find_axis(name: str | int, img2img: bool = False) -> Axis:
    """The axis by name or alias (any case), or by A1111's integer index."""
    if isinstance(name, int) or (isinstance(name, str) and name.strip().isdigit()):
        table = A1111_IMG2IMG if img2img else A1111_TXT2IMG
        index = int(name)
        if not 0 <= index < len(table):
            raise KeyError(f"A1111 axis index {index} is out of range 0..{len(table) - 1}")
        name = table[index]
    wanted = str(name).strip().lower()
    for axis in AXES:
        if wanted in (axis.name.lower(), *(alias.lower() for alias in axis.aliases)):
            return axis
    raise KeyError(f"unknown axis {name!r}; axes: {', '.join(axis_names())}")
