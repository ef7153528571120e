"""Building the script system for the composition root (`studio.app.build_services`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from studio.scripts.builtin import builtin_scripts
from studio.scripts.extensions.manager import ExtensionManager
from studio.scripts.manager import ScriptManager
from studio.scripts.registries import Registries


@dataclass
class ScriptSystem:
    scripts: ScriptManager  # pass as Engine(config, hooks=scripts, registries=registries)
    extensions: ExtensionManager
    # samplers, device backends, memory strategies: the built-ins and the extensions' (the
    # same object as `scripts.registries`, refilled when an extension is enabled or disabled)
    registries: Registries


def build_script_system(config: Any, *, load_extensions: bool = True) -> ScriptSystem:
    """Register the built-in scripts, then load the enabled extensions (failures are listed,
    never raised); the registries then hold the built-ins and every loaded extension's entries."""
    scripts = ScriptManager()
    for script in builtin_scripts():
        scripts.register(script)
    extensions = ExtensionManager.from_config(config, scripts)
    scripts.extensions = extensions
    if load_extensions:
        extensions.load_all()
    return ScriptSystem(scripts, extensions, scripts.registries)
