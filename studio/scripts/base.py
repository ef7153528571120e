"""The script base class and what a selectable script gets to run with.

A script is a class with a `name`, typed `params` and hook methods marked `@hookimpl`:

    class Stamp(Script):
        name = "stamp"
        params = (Param("text", "str", default="atelier"),)

        @hookimpl
        def postprocess_image(self, request, args, image, infotext):
            ...

`kind = "alwayson"` scripts run beside normal generation for every request that names them in
`request.scripts`; `kind = "selectable"` scripts (like the XYZ grid) run *instead of* normal
generation: their `run(request, args, context)` returns the Result, and calls
`context.generate` as often as it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from studio.scripts.params import Param, ParamSet

if TYPE_CHECKING:
    from studio.engine_view import EngineNames, ModelEntryView
    from studio.progress import GenerationControl
    from studio.request import GenerationRequest, Result

ScriptKind = Literal["alwayson", "selectable"]
Generate = Callable[["GenerationRequest", "GenerationControl"], "Result"]


@dataclass(frozen=True)
class Choices:
    """Names valid right now (None = not known, so not checked): used to check values early."""

    samplers: tuple[str, ...] | None = None
    schedulers: tuple[str, ...] | None = None
    checkpoints: tuple[str, ...] | None = None
    vaes: tuple[str, ...] | None = None

    @classmethod
    def from_engine(cls, engine: EngineNames) -> Choices:
        """Read the names from the engine (sampler table, schedule types, model registry)."""

        def titles_and_names(entries: Sequence[ModelEntryView]) -> tuple[str, ...]:
            names = [value for entry in entries for value in (entry.title, entry.name) if value]
            return tuple(dict.fromkeys(names))

        registry = engine.registry
        return cls(
            samplers=tuple(engine.sampler_names()),
            schedulers=tuple(engine.schedule_types()),
            checkpoints=titles_and_names(registry.checkpoints()),
            vaes=titles_and_names(registry.vaes()),
        )


class GridHistory(Protocol):
    """Where a script records the grids it saved (`studio.history.HistoryStore`)."""

    def add_grid(
        self,
        request: GenerationRequest,
        *,
        seed: int,
        path: str,
        infotext: str,
        cell_paths: list[str],
        timings: Any = None,
    ) -> int: ...


@dataclass(frozen=True)
class RunContext:
    """What a selectable script runs with: the generator (with hooks), the job's control,
    where grids go (`None` = do not save grids) and the history that records them."""

    generate: Generate
    control: GenerationControl
    outputs_dir: Path | None = None
    choices: Choices = Choices()
    history: GridHistory | None = None


class Script:
    """Base class of built-in and extension scripts. Subclasses set the class attributes."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    kind: ClassVar[ScriptKind] = "alwayson"
    params: ClassVar[tuple[Param, ...]] = ()
    # the UI tabs that show this script's controls
    tabs: ClassVar[tuple[str, ...]] = ("txt2img", "img2img")

    @property
    def key(self) -> str:
        """Names are matched case-insensitively (A1111 clients send titles in any case)."""
        return self.name.lower()

    def param_set(self) -> ParamSet:
        return ParamSet(self.name, tuple(self.params))

    def resolve_args(self, given: Any, request: GenerationRequest | None = None) -> dict[str, Any]:
        """The script's args by name, defaults filled, checked. `request` (when known) lets a
        script interpret args by mode (A1111's axis indexes differ for txt2img and img2img)."""
        return self.param_set().resolve(given)

    def check(self, request: GenerationRequest, args: dict[str, Any], choices: Choices) -> None:
        """Selectable scripts: raise RequestError for input that would fail, before queueing."""

    def run(self, request: GenerationRequest, args: dict[str, Any], context: RunContext) -> Result:
        """Selectable scripts: produce the result instead of normal generation."""
        raise NotImplementedError(f"script {self.name!r} is not selectable")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "kind": self.kind,
            "tabs": list(self.tabs),
            "args": self.param_set().names(),
            "schema": self.param_set().json_schema(),
        }
