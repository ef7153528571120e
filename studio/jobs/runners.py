"""Job kinds by name: how to decode a job's stored payload and what runs it.

`"generate"` (a `GenerationRequest`, run by `engine.generate`) is registered by the composition
root the same way any other kind is, e.g. the XYZ script:

    services.runners.register("xyz", run_xyz, decode=XyzRequest.from_json)

A runner is `run(payload, control) -> Result` (or None, or a JSON-safe dict); it must report steps
through `control.report_step` and honour `control.interrupted` / `control.take_skip()`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from studio.progress import GenerationControl
from studio.request import GenerationRequest

Runner = Callable[[Any, GenerationControl], Any]
Decoder = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class JobKind:
    name: str
    run: Runner
    decode: Decoder = GenerationRequest.from_json


class UnknownKindError(KeyError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = known

    def __str__(self) -> str:
        return f"kind: unknown job kind {self.name!r}; known kinds: {', '.join(self.known) or 'none'}"


class RunnerRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kinds: dict[str, JobKind] = {}

    def register(
        self, name: str, run: Runner, decode: Decoder = GenerationRequest.from_json, *, replace: bool = False
    ) -> JobKind:
        kind = JobKind(name, run, decode)
        with self._lock:
            if name in self._kinds and not replace:
                raise ValueError(f"kind: a runner for {name!r} is already registered")
            self._kinds[name] = kind
        return kind

    def unregister(self, name: str) -> None:
        with self._lock:
            self._kinds.pop(name, None)

    def get(self, name: str) -> JobKind:
        with self._lock:
            kind = self._kinds.get(name)
            if kind is None:
                raise UnknownKindError(name, sorted(self._kinds))
            return kind

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._kinds)

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._kinds
