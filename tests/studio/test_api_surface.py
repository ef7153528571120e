"""The extension surface is a contract: changing its names breaks third-party code."""

import subprocess
import sys

import studio.api

PUBLIC_NAMES = {
    "API_VERSION",
    "Choices",
    "GenerationControl",
    "GenerationRequest",
    "ImageRecord",
    "Param",
    "RequestError",
    "Result",
    "RunContext",
    "Script",
    "ScriptArgsError",
    "StepInfo",
    "hookimpl",
    "replace",
}


def test_public_names_are_pinned():
    assert set(studio.api.__all__) == PUBLIC_NAMES
    assert all(hasattr(studio.api, name) for name in PUBLIC_NAMES)
    assert studio.api.API_VERSION == "1.0"


def test_importing_the_surface_pulls_in_no_routes_web_framework_or_torch():
    code = (
        "import sys, studio.api; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'torch', 'diffusers', 'gradio') "
        "or (m.startswith('studio.http'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_surface_is_one_plain_module_apart_from_the_engine_and_the_app():
    code = (
        "import sys, studio.api; "
        "print(hasattr(studio.api, '__path__'), sorted(m for m in sys.modules if m == 'studio.app' "
        "or m.startswith(('studio.pipeline', 'studio.http', 'studio.ui', 'starlette', 'pydantic'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False []"
