"""The script manager: registered scripts on a pluggy manager, and the engine's hooks.

`ScriptManager` implements `studio.hooks.GenerationHooks`, so it is what the composition root
passes as `Engine(config, hooks=manager)`. For each request it enables the always-on scripts
that `request.scripts` names, resolves their parameters by name, and chains their hook
implementations in load order. Selectable scripts are run through `runner(...)`.

It also owns the studio's `registries` (samplers, device backends, memory strategies): its
plugin manager starts with the built-in registrations, and the registries are rebuilt from the
`register_*` hooks whenever a script or extension is registered or removed. Pass them as
`Engine(config, hooks=manager, registries=manager.registries)`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from studio.scripts.base import Choices, Generate, GridHistory, RunContext, Script
from studio.scripts.hookspecs import in_load_order
from studio.scripts.params import Param, ScriptArgsError
from studio.scripts.registries import Registries, build_registries, new_plugin_manager

if TYPE_CHECKING:
    from pathlib import Path

    from PIL.Image import Image

    from studio.progress import GenerationControl, StepInfo
    from studio.request import GenerationRequest, Result

log = logging.getLogger(__name__)
Runner = Callable[["GenerationRequest", "GenerationControl"], "Result"]


@dataclass
class _Entry:
    name: str
    plugin: Script | ModuleType | object
    source: str  # "builtin" or "extension:<name>"

    @property
    def script(self) -> Script | None:
        return self.plugin if isinstance(self.plugin, Script) else None

    @property
    def kind(self) -> str:
        return self.script.kind if self.script else "alwayson"

    def resolve_args(self, given: Any, request: GenerationRequest | None = None) -> dict[str, Any]:
        if self.script is not None:
            return self.script.resolve_args(given, request)
        return dict(given or {})


@dataclass
class _ActiveRun:
    """The always-on scripts enabled for the request the engine is running on this thread."""

    args_by_plugin: dict[int, dict[str, Any]] = field(default_factory=dict)


class ScriptManager:
    """Registered scripts; the engine's `GenerationHooks`; A1111 argument mapping."""

    def __init__(self) -> None:
        self._pm = new_plugin_manager()
        # built once here and refilled (same object) when plugins change: what the engine reads
        self.registries: Registries = build_registries(self._pm)
        self._entries: dict[str, _Entry] = {}
        self._local = threading.local()
        self.hook_errors: deque[str] = deque(maxlen=100)  # the latest failures, for diagnosis
        # set by `studio.scripts.system.build_script_system`: the routes reach extensions here
        self.extensions: Any = None

    # -- registry -------------------------------------------------------------------------

    def register(
        self, plugin: Script | ModuleType | object, *, name: str | None = None, source: str = "builtin"
    ) -> str:
        """Register a Script instance (named by its `name`) or a module of hookimpls (by `name`).

        Its `register_*` hooks take effect at once (the registries are rebuilt); when one of
        them raises (a sampler name already taken ...), nothing is registered and the error
        propagates."""
        script_name = plugin.name if isinstance(plugin, Script) else name
        if not script_name:
            raise ValueError("a script needs a name")
        key = script_name.lower()
        if key in self._entries:
            raise ValueError(
                f"a script named {script_name!r} is already registered ({self._entries[key].source})"
            )
        self._pm.register(plugin, name=f"{source}:{script_name}")
        self._entries[key] = _Entry(script_name, plugin, source)
        try:
            self._refill_registries()
        except Exception:
            self._pm.unregister(plugin)
            del self._entries[key]
            raise
        return script_name

    def unregister_source(self, source: str) -> None:
        """Remove every script an extension registered (used when it is disabled)."""
        for key, entry in list(self._entries.items()):
            if entry.source == source:
                self._pm.unregister(entry.plugin)
                del self._entries[key]
        self._refill_registries()

    def _refill_registries(self) -> None:
        self.registries.refill(build_registries(self._pm))

    def get(self, name: str) -> Script | None:
        entry = self._entries.get(name.lower())
        return entry.script if entry else None

    def names(self, kind: str | None = None) -> list[str]:
        return [e.name for e in list(self._entries.values()) if kind is None or e.kind == kind]

    def describe(self) -> list[dict[str, Any]]:
        described = []
        for entry in list(self._entries.values()):
            info = (
                entry.script.describe()
                if entry.script
                else {"name": entry.name, "kind": "alwayson", "args": []}
            )
            described.append({**info, "source": entry.source})
        return described

    # -- A1111 argument forms ---------------------------------------------------------------

    def from_a1111(
        self,
        script_name: str | None = None,
        script_args: Sequence[Any] | None = None,
        alwayson_scripts: Mapping[str, Any] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Map A1111's `script_name` + positional `script_args` and `alwayson_scripts:
        {name: {"args": [...]}}` onto `request.scripts` (names -> params by name).

        `args` may also be a dict (by name). Unknown scripts raise ScriptArgsError.
        """
        scripts: dict[str, dict[str, Any]] = {}
        for name, body in (alwayson_scripts or {}).items():
            entry = self._require(name)
            args = body.get("args", []) if isinstance(body, Mapping) else body
            scripts[entry.name] = self._named(entry, args)
        if script_name:
            entry = self._require(script_name)
            if entry.kind != "selectable":
                raise ScriptArgsError(entry.name, "", "is an always-on script; pass it in alwayson_scripts")
            scripts[entry.name] = self._named(entry, script_args or [])
        return scripts

    def _require(self, name: str) -> _Entry:
        entry = self._entries.get(str(name).lower())
        if entry is None:
            known = ", ".join(self.names()) or "none"
            raise ScriptArgsError(str(name), "", f"no such script; known: {known}")
        return entry

    @staticmethod
    def _named(entry: _Entry, args: Any) -> dict[str, Any]:
        if isinstance(args, Mapping):
            return dict(args)
        if entry.script is None:
            raise ScriptArgsError(entry.name, "", "takes its arguments by name (an object)")
        return entry.script.param_set().from_list(list(args))

    # -- selectable scripts -----------------------------------------------------------------

    def selectable_for(self, request: GenerationRequest) -> tuple[Script, dict[str, Any]] | None:
        """The selectable script `request.scripts` names (at most one) and its resolved args."""
        found = [
            (entry, given)
            for name, given in request.scripts.items()
            if (entry := self._entries.get(name.lower())) is not None and entry.kind == "selectable"
        ]
        if len(found) > 1:
            raise ScriptArgsError(found[1][0].name, "", "only one selectable script can run per request")
        if not found:
            return None
        entry, given = found[0]
        assert entry.script is not None
        return entry.script, entry.script.resolve_args(given, request)

    def check(self, request: GenerationRequest, choices: Choices | None = None) -> None:
        """Check a request's script arguments now (the API calls this before queueing): unknown
        scripts, bad parameters, and what the selectable script checks (XYZ: every axis value).
        Raises RequestError (ScriptArgsError / AxisValueError) naming the field."""
        for name, given in request.scripts.items():
            entry = self._require(name)
            entry.resolve_args(given, request)
        selected = self.selectable_for(request)
        if selected is not None:
            script, args = selected
            script.check(request, args, choices or Choices())

    def runner(
        self,
        generate: Generate,
        *,
        outputs_dir: Path | None = None,
        choices: Callable[[], Choices] | None = None,
        require: str | None = None,
        history: GridHistory | None = None,
        saving: Callable[[], bool] | None = None,
    ) -> Runner:
        """A job runner: runs the selectable script the request names, else `generate`.
        With `require` (a job kind for one script, like "xyz"), the request must name it.
        Grids are saved under `outputs_dir` (and recorded in `history`) when the request asks
        to save and `saving()` (the `samples_save` setting) agrees."""

        def run(request: GenerationRequest, control: GenerationControl) -> Result:
            selected = self.selectable_for(request)
            if require is not None and (selected is None or selected[0].key != require.lower()):
                raise ScriptArgsError(
                    require, "", "this job kind needs the script's arguments in request.scripts"
                )
            if selected is None:
                return generate(request, control)
            script, args = selected
            save = request.save_images and (saving is None or saving())
            context = RunContext(
                generate=generate,
                control=control,
                outputs_dir=outputs_dir if save else None,
                choices=choices() if choices else Choices(),
                history=history if save else None,
            )
            return script.run(request, args, context)

        return run

    def decoder(
        self, choices: Callable[[], Choices] | None = None, require: str | None = None
    ) -> Callable[[Mapping[str, Any]], GenerationRequest]:
        """A job kind's payload decoder: the request from JSON, its scripts checked (`check`), so
        a bad axis value is refused when the job is submitted, never stored."""
        from studio.request import GenerationRequest

        def decode(payload: Mapping[str, Any]) -> GenerationRequest:
            request = GenerationRequest.from_json(payload)
            if require is not None and self.selectable_for(request) is None:
                raise ScriptArgsError(
                    require, "", "this job kind needs the script's arguments in request.scripts"
                )
            self.check(request, choices() if choices else None)
            return request

        return decode

    # -- GenerationHooks (called by the engine) ---------------------------------------------

    def _active(self) -> _ActiveRun:
        return getattr(self._local, "run", None) or _ActiveRun()

    def _impls(
        self, hook_name: str, active: _ActiveRun
    ) -> Iterator[tuple[Callable[..., Any], list[str], dict[str, Any]]]:
        for impl in in_load_order(getattr(self._pm.hook, hook_name).get_hookimpls()):
            args = active.args_by_plugin.get(id(impl.plugin))
            if args is not None:
                yield impl.function, list(impl.argnames), args

    def _call(self, hook_name: str, active: _ActiveRun, **kwargs: Any) -> Iterator[Any]:
        """Call each enabled implementation with the arguments it asks for; log failures."""
        for function, argnames, args in self._impls(hook_name, active):
            values = {**kwargs, "args": args}
            try:
                yield function(**{name: values[name] for name in argnames})
            except ScriptArgsError:
                raise
            except Exception as error:  # one script's bug must not stop the generation
                message = f"{hook_name} in {getattr(function, '__qualname__', function)} failed: {error!r}"
                log.exception(message)
                self.hook_errors.append(message)

    def before_process(self, request: GenerationRequest) -> GenerationRequest:
        active = _ActiveRun()
        for name, given in request.scripts.items():
            entry = self._entries.get(name.lower())
            if entry is None:
                raise ScriptArgsError(name, "", f"no such script; known: {', '.join(self.names()) or 'none'}")
            if entry.kind == "alwayson":
                active.args_by_plugin[id(entry.plugin)] = entry.resolve_args(given, request)
        self._local.run = active
        for function, argnames, args in self._impls("before_process", active):
            values = {"request": request, "args": args}
            changed = function(**{name: values[name] for name in argnames})
            if changed is not None:
                request = changed
        return request

    def process_batch(self, request: GenerationRequest, batch_index: int, seeds: list[int]) -> None:
        for _ in self._call(
            "process_batch", self._active(), request=request, batch_index=batch_index, seeds=seeds
        ):
            pass

    def on_step(self, info: StepInfo, control: GenerationControl) -> None:
        for _ in self._call("on_step", self._active(), info=info, control=control):
            pass

    def postprocess_image(self, request: GenerationRequest, image: Image, infotext: str) -> tuple[Image, str]:
        active = self._active()
        for function, argnames, args in self._impls("postprocess_image", active):
            values = {"request": request, "args": args, "image": image, "infotext": infotext}
            try:
                changed = function(**{name: values[name] for name in argnames})
            except Exception as error:
                message = f"postprocess_image in {function.__qualname__} failed: {error!r}"
                log.exception(message)
                self.hook_errors.append(message)
                continue
            if changed is not None:
                image, infotext = changed
        return image, infotext

    def postprocess(self, result: Result) -> Result:
        active = self._active()
        for function, argnames, args in self._impls("postprocess", active):
            values = {"result": result, "args": args}
            try:
                changed = function(**{name: values[name] for name in argnames})
            except Exception as error:
                message = f"postprocess in {function.__qualname__} failed: {error!r}"
                log.exception(message)
                self.hook_errors.append(message)
                continue
            if changed is not None:
                result = changed
        self._local.run = None
        return result

    # -- studio hooks -----------------------------------------------------------------------

    def _all_plugins(self) -> _ActiveRun:
        return _ActiveRun({id(entry.plugin): {} for entry in list(self._entries.values())})

    def ui_params(self, tab: str) -> dict[str, list[Param]]:
        """Controls contributed to a UI tab: script name -> params (from `ui` hooks and from
        the `params` of always-on scripts that list the tab)."""
        contributed: dict[str, list[Param]] = {}
        for entry in list(self._entries.values()):
            if entry.script and entry.kind == "alwayson" and tab in entry.script.tabs and entry.script.params:
                contributed[entry.name] = list(entry.script.params)
        by_plugin = {id(entry.plugin): entry.name for entry in list(self._entries.values())}
        for function, argnames, _ in self._impls("ui", self._all_plugins()):
            try:
                params = function(**{name: {"tab": tab}[name] for name in argnames})
            except Exception as error:
                log.exception("ui hook failed: %r", error)
                continue
            if params:
                owner = by_plugin.get(id(getattr(function, "__self__", None)), function.__module__)
                contributed.setdefault(owner, []).extend(params)
        return contributed

    def call_api(self, router_for: Callable[[str], Any], services: Any) -> None:
        """Let each script register routes; `router_for(owner)` gives its APIRouter (owner is
        the extension's name, or the script's for built-ins)."""
        owners = {
            id(e.plugin): e.source.removeprefix("extension:") if e.source != "builtin" else e.name
            for e in list(self._entries.values())
        }
        for impl in self._pm.hook.api.get_hookimpls():
            owner = owners.get(id(impl.plugin))
            if owner is None:
                continue
            values = {"router": router_for(owner), "services": services}
            try:
                impl.function(**{name: values[name] for name in impl.argnames})
            except Exception as error:
                log.exception("api hook of %s failed: %r", owner, error)

    def app_started(self, services: Any) -> None:
        for _ in self._call("app_started", self._all_plugins(), services=services):
            pass


def without_script(request: GenerationRequest, name: str) -> GenerationRequest:
    """The request with the named script removed from `request.scripts` (case-insensitive)."""
    scripts = {key: value for key, value in request.scripts.items() if key.lower() != name.lower()}
    return dataclasses.replace(request, scripts=scripts)
