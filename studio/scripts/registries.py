"""The registries extensions can extend (samplers, upscalers, device backends, memory strategies), filled
through the registration hooks of `studio.scripts.hookspecs`.

There is no module-level registry: `build_registries(plugin_manager)` makes fresh ones and
calls every `register_*` implementation on the plugin manager, in load order. The built-in
entries come from `BuiltinRegistrations`, a plugin like any other that the `ScriptManager`
registers first, so the built-ins and an extension's entries take the same road.

    scripts = ScriptManager()                   # registers BuiltinRegistrations, fills scripts.registries
    engine = Engine(config, hooks=scripts, registries=scripts.registries)

`builtin_registries()` is the same thing for a studio without a script system (the command
line `generate`, tests): a plugin manager holding only the built-ins.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import pluggy

from studio.devices.registry import DeviceRegistry, builtin_backends
from studio.memory.strategies import MemoryStrategyRegistry, builtin_strategies
from studio.pipeline.samplers import BUILTIN_SAMPLERS, BUILTIN_SCHEDULE_TYPES, SamplerRegistry
from studio.pipeline.upscalers.registry import UpscalerRegistry, register_builtin_upscalers
from studio.scripts import hookspecs
from studio.scripts.hookspecs import hookimpl, in_load_order

BUILTIN_PLUGIN_NAME = "builtin:registrations"


@dataclass
class Registries:
    """One studio's samplers, device backends and memory strategies.

    The engine reads these attributes at each use; `refill` swaps in freshly built registries
    when plugins come or go (an extension enabled or disabled at run time), so the object the
    engine holds stays the one to ask.
    """

    samplers: SamplerRegistry
    devices: DeviceRegistry
    memory_strategies: MemoryStrategyRegistry
    upscalers: UpscalerRegistry = field(default_factory=UpscalerRegistry)

    def refill(self, fresh: Registries) -> None:
        """Take `fresh`'s registries (each attribute is replaced whole, never edited in place,
        so a generation running meanwhile sees either the old registry or the new one)."""
        for item in fields(self):
            setattr(self, item.name, getattr(fresh, item.name))


class BuiltinRegistrations:
    """The built-in samplers and schedule types, device backends and memory strategies,
    registered through the same hooks an extension implements."""

    @hookimpl
    def register_samplers(self, registry: SamplerRegistry) -> None:
        for spec in BUILTIN_SAMPLERS:
            registry.add(spec)
        for schedule in BUILTIN_SCHEDULE_TYPES:
            registry.add_schedule_type(schedule)

    @hookimpl
    def register_upscalers(self, registry: UpscalerRegistry) -> None:
        register_builtin_upscalers(registry)

    @hookimpl
    def register_devices(self, registry: DeviceRegistry) -> None:
        for backend in builtin_backends():
            registry.add(backend)

    @hookimpl
    def register_memory_strategies(self, registry: MemoryStrategyRegistry) -> None:
        for strategy in builtin_strategies().values():
            registry.add(strategy)


def build_registries(plugin_manager: pluggy.PluginManager) -> Registries:
    """Fresh registries filled by every `register_*` implementation on `plugin_manager`, in
    load order. An implementation that raises (a name already taken, a bug) propagates: the
    caller decides whether that fails the extension or the start."""
    registries = Registries(SamplerRegistry(), DeviceRegistry(), MemoryStrategyRegistry())
    for hook_name, registry in (
        ("register_samplers", registries.samplers),
        ("register_devices", registries.devices),
        ("register_memory_strategies", registries.memory_strategies),
        ("register_upscalers", registries.upscalers),
    ):
        for impl in in_load_order(getattr(plugin_manager.hook, hook_name).get_hookimpls()):
            impl.function(**{name: registry for name in impl.argnames})
    return registries


def new_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with Atelier's hook specs and the built-in registrations (registered
    first, so built-in entries come first in every list)."""
    plugin_manager = pluggy.PluginManager(hookspecs.PROJECT)
    plugin_manager.add_hookspecs(hookspecs)
    plugin_manager.register(BuiltinRegistrations(), name=BUILTIN_PLUGIN_NAME)
    return plugin_manager


def builtin_registries() -> Registries:
    """The registries of a studio without scripts or extensions: the built-ins only."""
    return build_registries(new_plugin_manager())
