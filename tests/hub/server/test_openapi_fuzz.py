"""Schemathesis against the hub server's own OpenAPI document, on a real server on loopback.

Every operation gets a few generated requests (as an admin); each response must not be a 5xx,
must have a status the document declares for that operation, the declared content type, and a
body that validates against the declared schema. Bounded to a few hundred requests in all.
Each distinct failure it found became a plain regression test (test_openapi_regressions.py).

Schemathesis' pytest plugin is switched off (pyproject addopts: importing it costs every
pytest run seconds); the operations' Hypothesis strategies are driven here directly.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from tests.hub.server.conftest import copy_catalog, register, running_hub

EXAMPLES_PER_OPERATION = 5  # per generation mode (valid, invalid data)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@pytest.mark.slow
def test_every_operation_answers_as_documented(seeded_template: Path, tmp_path: Path) -> None:
    with running_hub(copy_catalog(seeded_template, tmp_path / "hub")) as hub:
        admin = register(hub.api, "fuzzadmin")
        schema = schemathesis.openapi.from_dict(httpx.get(f"{hub.url}/openapi.json").json())
        failures: dict[str, str] = {}
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 29
        for operation, mode in itertools.product(operations, GenerationMode):

            @given(case=operation.as_strategy(mode))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            def answers_as_documented(case) -> None:
                case.call_and_validate(
                    base_url=hub.url, headers={"Authorization": f"Bearer {admin}"}, checks=CHECKS, timeout=30
                )

            try:
                answers_as_documented()
            except Unsatisfiable:
                # no invalid request to make (only free-text parameters, or none at all)
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as exc:  # every operation runs; all failures are reported together
                failures[f"{operation.label} ({mode})"] = str(exc)[:3000]
        assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
