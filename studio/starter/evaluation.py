"""Prompt-adherence evaluation of the starter model, read from the pixels it generates.

Three checks, each a list of (prompt, seed) cases scored by `studio.starter.dataset.read_image`:

- colour: "a {colour} {shape}" for every colour x shape: the most common non-background
  palette colour must be the prompt's colour;
- background: "a {colour} {shape}, {background} background": the border colour must be the
  asked background (and the shape colour still right);
- position: "a {colour} {shape} {on the left | ...}, {background} background": the centre of
  mass of the non-background pixels must lie on that side.

The generator under test is any `Callable[[prompt, seed], PIL.Image]`, so the same cases run
through the studio's Engine (the real path) or a bare diffusers pipeline.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from PIL import Image

from studio.starter.dataset import COLOURS, POSITIONS, SHAPES, caption_for, position_matches, read_image

Generate = Callable[[str, int], Image.Image]


@dataclass(frozen=True)
class Case:
    check: str  # "colour", "background" or "position"
    prompt: str
    seed: int
    colour: str
    shape: str
    background: str | None = None
    position: str | None = None


@dataclass
class Outcome:
    case: Case
    passed: bool
    read_colour: str | None
    read_background: str
    read_centre: tuple[float, float] | None


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def rate(self, check: str) -> float:
        chosen = [o.passed for o in self.outcomes if o.case.check == check]
        return sum(chosen) / len(chosen) if chosen else float("nan")

    def count(self, check: str) -> int:
        return sum(1 for o in self.outcomes if o.case.check == check)

    def failures(self, check: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.check == check and not o.passed]


def build_cases(seeds: Iterable[int] = (0, 1, 2), quick: bool = False) -> list[Case]:
    """The evaluation cases; `quick` keeps one seed and a cross-section of the vocabulary."""
    seeds = list(seeds)[:1] if quick else list(seeds)
    colours, shapes, positions = list(COLOURS), list(SHAPES), list(POSITIONS)
    cases: list[Case] = []
    pairs = list(itertools.product(colours, shapes))
    if quick:  # every colour and every shape once
        pairs = [(colour, shapes[i % len(shapes)]) for i, colour in enumerate(colours)]
    for seed in seeds:
        for colour, shape in pairs:
            cases.append(Case("colour", caption_for(shape, colour), seed, colour, shape))
    # background: every ordered colour pair (shape and seed rotate), or one offset in quick mode
    offsets = [3] if quick else range(1, len(colours))
    index = 0
    for offset in offsets:
        for i, colour in enumerate(colours):
            background = colours[(i + offset) % len(colours)]
            shape = shapes[index % len(shapes)]
            seed = seeds[index % len(seeds)]
            prompt = caption_for(shape, colour, background=background)
            cases.append(Case("background", prompt, seed, colour, shape, background=background))
            index += 1
    # position: every position with several colour/shape/background combinations
    per_position = 2 if quick else 8
    index = 0
    for position in positions:
        for k in range(per_position):
            colour = colours[(index + k) % len(colours)]
            background = colours[(index + k + 1 + k % 3) % len(colours)]
            shape = shapes[index % len(shapes)]
            seed = seeds[index % len(seeds)]
            prompt = caption_for(shape, colour, position=position, background=background)
            cases.append(Case("position", prompt, seed, colour, shape, background, position))
            index += 1
    return cases


def score(case: Case, image: Image.Image) -> Outcome:
    reading = read_image(image)
    if case.check == "colour":
        passed = reading.colour == case.colour
    elif case.check == "background":
        passed = reading.background == case.background and reading.colour == case.colour
    elif case.check == "position":
        passed = reading.centre is not None and position_matches(case.position or "", reading.centre)
    else:
        raise ValueError(f"check: unknown {case.check!r}")
    return Outcome(case, passed, reading.colour, reading.background, reading.centre)


def evaluate(generate: Generate, cases: Iterable[Case]) -> Report:
    report = Report()
    for case in cases:
        report.outcomes.append(score(case, generate(case.prompt, case.seed)))
    return report
