"""The stable surface for extensions: the one module third-party code imports.

It only re-exports the public names extensions may rely on, and imports no web framework, UI
toolkit, diffusers or torch (a test pins both). The studio's HTTP routes are `studio.http`.

    from studio.api import Script, Param, hookimpl

    class Stamp(Script):
        name = "stamp"
        params = (Param("text", "str", default="atelier"),)

        @hookimpl
        def postprocess_image(self, request, args, image, infotext):
            ...
            return image, infotext + f", Stamp: {args['text']}"

See docs/extensions.md for the hooks, parameter types and the manifest.
"""

from dataclasses import replace

from studio.progress import GenerationControl, StepInfo
from studio.request import GenerationRequest, ImageRecord, RequestError, Result
from studio.scripts.base import Choices, RunContext, Script
from studio.scripts.hookspecs import hookimpl
from studio.scripts.params import Param, ScriptArgsError

API_VERSION = "1.0"

__all__ = [
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
]
