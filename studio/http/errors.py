"""How the API reports errors: bad fields -> 422 naming the field, unknown jobs -> 404,
impossible state changes -> 409, failed generations -> 500 with the error text, a request the
cost check refuses -> 422 `CostRefused` with the estimate."""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from studio.jobs import JobError, UnknownKindError
from studio.memory.estimate import CostRefused
from studio.request import RequestError


def field_error(field: str, message: str) -> JSONResponse:
    return JSONResponse(
        status_code=422,
        content={
            "error": "RequestError",
            "field": field,
            "detail": [{"loc": ["body", *field.split(".")], "msg": message, "type": "value_error"}],
        },
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
        return field_error(error.field, error.message)

    @app.exception_handler(UnknownKindError)
    async def unknown_kind(request: Request, error: UnknownKindError) -> JSONResponse:
        return field_error("kind", str(error).removeprefix("kind: "))

    @app.exception_handler(JobError)
    async def job_error(request: Request, error: JobError) -> JSONResponse:
        status = 404 if error.not_found else 409
        return JSONResponse(status_code=status, content={"error": "JobError", "detail": str(error)})
