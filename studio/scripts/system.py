"""Building the script system for the composition root (`studio.app.build_services`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from studio.scripts.builtin import builtin_scripts
from studio.scripts.extensions.manager import ExtensionManager
from studio.scripts.manager import ScriptManager


@dataclass
class ScriptSystem:
    scripts: ScriptManager  # pass as Engine(config, hooks=scripts)
    extensions: ExtensionManager


def build_script_system(config: Any, *, load_extensions: bool = True) -> ScriptSystem:
    """Register the built-in scripts, then load the enabled extensions (failures are listed,
    never raised)."""
    scripts = ScriptManager()
    for script in builtin_scripts():
        scripts.register(script)
    extensions = ExtensionManager.from_config(config, scripts)
    scripts.extensions = extensions
    if load_extensions:
        extensions.load_all()
    return ScriptSystem(scripts, extensions)
