"""Moved to `studio.infotext` (torch-free, shared by the pipeline, the UI and the HTTP layer).

This re-export keeps the pipeline's own imports working until they name `studio.infotext`;
new code imports `studio.infotext`.
"""

from studio.infotext import (
    encode_png,
    format_infotext,
    generation_parameters,
    parse_infotext,
    read_png_infotext,
    request_fields,
)

__all__ = [
    "encode_png",
    "format_infotext",
    "generation_parameters",
    "parse_infotext",
    "read_png_infotext",
    "request_fields",
]
