"""The hub server's OpenAPI document: response declarations the routes share, and the last
touches FastAPI cannot make from the route declarations alone.

Each route lists the statuses it can answer with `responses(...)`; every error has the
`ErrorBody` schema. FastAPI would add a 422 "HTTPValidationError" to every route with
parameters, but this server answers validation errors with 400 `{"error": ...}` (422 only for
ids outside the signed 64-bit range, declared where ids are taken), so `build_openapi` drops
that default; it also drops `null` from query parameter schemas (a query string cannot carry
a null), declares the `X-Atelier-Auth` header every response may carry, and adds the upload
metadata schemas the multipart bodies refer to.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from hub.server.api_schema import ErrorBody

ERROR_DESCRIPTIONS = {
    400: "Bad input: the message names every bad parameter or field",
    401: "This route needs an API key this server issued (an unknown or empty key counts as none)",
    402: "Not enough Buzz: the message says how much is needed and available",
    403: "The caller's role may not do this",
    404: "Not found",
    409: "Conflict (a taken username, a shop item already owned, sold out or not on sale now)",
    411: "An upload without Content-Length",
    413: "An upload over the server's size limit",
    416: "A Range past the end of the file (Content-Range: bytes */SIZE)",
    422: "An id outside the signed 64-bit range",
    429: "Rate limit exceeded (see Retry-After), or page * limit past 1,000 items",
}
RETRY_AFTER = {
    "Retry-After": {"description": "seconds until a request is allowed again", "schema": {"type": "integer"}}
}


def responses(*codes: int, ok: dict[int, dict[str, Any]] | None = None) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: its success responses `ok`, the error `codes`, and 429
    (every route is rate limited)."""
    out: dict[int | str, dict[str, Any]] = dict(ok or {})
    for code in sorted({*codes, 429}):
        out[code] = {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[code]}
        if code == 429:
            out[code]["headers"] = RETRY_AFTER
    return out


def json_ok(model: Any, description: str, status: int = 200) -> dict[int, Any]:
    """A success response with a JSON body of type `model` (a pydantic class, `list[...]`, ...)."""
    return {status: {"model": model, "description": description}}


def multipart_body(metadata_schema: str, description: str) -> dict[str, Any]:
    """`openapi_extra` declaring an upload's multipart body (read by the route itself)."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["metadata", "files"],
                        "properties": {
                            "metadata": {"$ref": f"#/components/schemas/{metadata_schema}"},
                            "files": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                                "description": "model files (names as in metadata.version.files)",
                            },
                            "images": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                                "description": "preview images (PNG, JPEG or WEBP)",
                            },
                        },
                    },
                    "encoding": {"metadata": {"contentType": "application/json"}},
                }
            },
        }
    }


def build_openapi(app: FastAPI, extra_schemas: list[type[BaseModel]]) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    for model in extra_schemas:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components[model.__name__] = schema
    for path_item in doc.get("paths", {}).values():
        for operation in path_item.values():
            _finish_operation(operation)
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    app.openapi_schema = doc
    return doc


AUTH_NOTE = {
    "X-Atelier-Auth": {
        "description": "present when a request's key was unknown, empty or not a Bearer key and it "
        "was served as anonymous: `anonymous (unknown key)`",
        "schema": {"type": "string"},
    }
}


def _finish_operation(operation: dict[str, Any]) -> None:
    default_422 = operation.get("responses", {}).get("422", {})
    if "HTTPValidationError" in str(default_422.get("content", "")):
        del operation["responses"]["422"]
    for response in operation.get("responses", {}).values():
        response.setdefault("headers", {}).update(AUTH_NOTE)
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        options = schema.get("anyOf")
        if options and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            del schema["anyOf"]
            if len(rest) == 1:
                schema.update(rest[0])
            else:
                schema["anyOf"] = rest
