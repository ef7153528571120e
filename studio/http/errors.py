"""How the API reports errors, and the error shapes its OpenAPI declares.

- bad fields -> 422 naming EVERY bad field at once, pydantic-style as A1111 answers:
  `{"error": ..., "field": <first>, "detail": [{"loc": ["body", field, ...], "msg", "type"}]}`,
  for our own checks (RequestError / RequestErrors) and FastAPI's body validation alike;
- no credentials -> 401, a forbidden action -> 403, an unknown job or image -> 404, an
  impossible state change -> 409, a body over the limit -> 413;
- a request the cost check refuses -> 422 `CostRefused` with the estimate;
- a generation that failed for a reason of the server -> 500 with the job's error text.

Request bodies are decoded strictly (`StrictJsonRoute`): a lone surrogate anywhere in the JSON,
or NaN / Infinity (not JSON), is a 422 naming where it is, before any route code sees it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from studio.jobs import JobError, UnknownKindError
from studio.memory.estimate import CostRefused
from studio.request import RequestError

_INDEX = re.compile(r"\[(\d+)\]")


class FieldProblem(BaseModel):
    """One bad field: where it is (`loc`, as pydantic and A1111 write it), what is wrong, a kind."""

    loc: list[str | int] = Field(examples=[["body", "width"]])
    msg: str = Field(examples=["65 is not a multiple of 8"])
    type: str = Field(examples=["value_error"])


class ValidationErrorBody(BaseModel):
    """422: every bad field of the request, at once."""

    error: str | None = Field(None, examples=["RequestError"])
    field: str | None = Field(None, description="the first bad field", examples=["width"])
    detail: list[FieldProblem]


class ErrorBody(BaseModel):
    """4xx other than 422: `detail` (and for some routes `error`) says what is wrong."""

    model_config = ConfigDict(extra="allow")

    error: str | None = None
    detail: Any = None


def _described(description: str, model: type[BaseModel] = ErrorBody) -> dict[str, Any]:
    return {"model": model, "description": description}


UNAUTHORIZED = _described("credentials missing or wrong (the studio runs with --api-auth / --ui-auth)")
FORBIDDEN = _described("not allowed from this client")
NOT_FOUND = _described("no such job, image, script or extension")
CONFLICT = _described("the job or extension is not in a state that allows this")
TOO_LARGE = _described("the request body is over the limit (max_body_mb)")
INVALID = _described("bad fields: every one is named in `detail`", ValidationErrorBody)
GENERATION_FAILED = _described("the generation failed on the server (the job's error)")

# Every API route can answer these; routes add 403, 404 and 409 where they apply.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {401: UNAUTHORIZED, 413: TOO_LARGE, 422: INVALID}


def field_loc(field: str, within: tuple[str, ...] = ()) -> list[str | int]:
    """`init_images[0]` -> ["body", "init_images", 0]; `override_settings.sd_vae` -> [..., "sd_vae"];
    `within` names the body member the fields belong to (the job API's "payload")."""
    if field in within:
        within = ()  # the member itself is bad
    loc: list[str | int] = ["body", *within]
    for part in field.split("."):
        name, *rest = _INDEX.split(part)
        if name:
            loc.append(name)
        loc.extend(int(index) for index in rest if index)
    return loc


def _safe(text: str) -> str:
    """Text that encodes as UTF-8: lone surrogates written as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def problems_response(
    problems: Iterable[tuple[str, list[str | int], str, str]], error: str = "RequestError"
) -> JSONResponse:
    """422 from (field, loc, message, type) problems."""
    items = list(problems)
    return JSONResponse(
        status_code=422,
        content={
            "error": error,
            "field": _safe(items[0][0]) if items else None,
            "detail": [
                {"loc": [_safe(p) if isinstance(p, str) else p for p in loc], "msg": _safe(msg), "type": kind}
                for _, loc, msg, kind in items
            ],
        },
    )


def field_error(field: str, message: str) -> JSONResponse:
    return problems_response([(field, field_loc(field), message, "value_error")])


def request_error_response(error: RequestError, within: tuple[str, ...] = ()) -> JSONResponse:
    return problems_response(
        (problem.field, field_loc(problem.field, within), problem.message, "value_error")
        for problem in error.problems
    )


def _validation_field(loc: Iterable[Any]) -> str:
    parts = [str(part) for part in loc]
    return (
        ".".join(parts[1:] if parts and parts[0] in ("body", "query", "path", "header") else parts) or "body"
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CostRefused)
    async def cost_refused(request: Request, error: CostRefused) -> JSONResponse:
        response = field_error(error.field, error.message)
        content = json.loads(response.body)
        content.update(error="CostRefused", cost=error.verdict.to_json())
        return JSONResponse(status_code=422, content=content)

    @app.exception_handler(RequestError)
    async def request_error(request: Request, error: RequestError) -> JSONResponse:
        return request_error_response(error)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        # pydantic's own list, without the `input` echo (it can be a whole image, or not UTF-8)
        return problems_response(
            (
                (
                    _validation_field(item.get("loc", ())),
                    list(item.get("loc", ())),
                    str(item.get("msg", "")),
                    str(item.get("type", "value_error")),
                )
                for item in error.errors()
            ),
            error="ValidationError",
        )

    @app.exception_handler(UnknownKindError)
    async def unknown_kind(request: Request, error: UnknownKindError) -> JSONResponse:
        return field_error("kind", str(error).removeprefix("kind: "))

    @app.exception_handler(JobError)
    async def job_error(request: Request, error: JobError) -> JSONResponse:
        status = 404 if error.not_found else 409
        return JSONResponse(status_code=status, content={"error": "JobError", "detail": str(error)})


# ---- strict JSON bodies -------------------------------------------------------------------------


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _surrogates(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[str | int, ...]]:
    if isinstance(value, str):
        if any(0xD800 <= ord(char) <= 0xDFFF for char in value):
            yield loc
    elif isinstance(value, dict):
        for key, item in value.items():
            if any(0xD800 <= ord(char) <= 0xDFFF for char in key):
                yield (*loc, _safe(key))
            else:
                yield from _surrogates(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _surrogates(item, (*loc, index))


def strict_json(body: bytes) -> Any:
    """The JSON of a request body, refusing what is not text or not JSON (RequestValidationError)."""
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as error:
        message = str(error) if isinstance(error, ValueError) else "the body is not UTF-8"
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": f"not valid JSON: {message}"}]
        ) from error
    bad = list(_surrogates(data, ("body",)))
    if bad:
        raise RequestValidationError(
            [
                {
                    "type": "string_unicode",
                    "loc": loc,
                    "msg": "contains a lone surrogate (\\ud800-\\udfff escape): not valid Unicode text",
                }
                for loc in bad
            ]
        )
    return data


def _is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type")
    if not content_type:
        return True  # FastAPI reads a body without a content type as JSON
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


class _StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_json(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    """An APIRoute whose JSON bodies go through `strict_json` before FastAPI reads them (its
    custom-route pattern); a refused body is a 422 from the RequestValidationError handler."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            strict = _StrictJsonRequest(request.scope, request.receive)
            if self.body_field is not None and _is_json(strict) and await strict.body():
                await strict.json()  # raises here, outside FastAPI's body parsing (which says 400)
            return await handler(strict)

        return strict_handler
