"""Issue #20.12 (the studio's part): the OpenAPI of /sdapi/v1 and /studio/v1 declares the 4xx
answers the routes give, each with a schema: 401 (login), 413 (body limit) and 422 (every bad
field) everywhere; 403, 404 and 409 where they can happen."""

from __future__ import annotations

import httpx

from .conftest import LiveServer


def resolve(spec: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def test_every_api_operation_declares_its_4xx_with_schemas(live: LiveServer) -> None:
    spec = httpx.get(f"{live.url}/openapi.json").json()
    operations = [
        (method.upper(), path, operation)
        for path, methods in spec["paths"].items()
        if path.startswith(("/sdapi/v1/", "/studio/v1/"))
        for method, operation in methods.items()
    ]
    assert len(operations) > 30
    for method, path, operation in operations:
        responses = operation["responses"]
        for status in ("401", "413", "422"):
            assert status in responses, (method, path, status)
            schema = resolve(spec, responses[status]["content"]["application/json"]["schema"])
            assert schema["type"] == "object", (method, path, status)
        invalid = resolve(spec, responses["422"]["content"]["application/json"]["schema"])
        problem = resolve(spec, invalid["properties"]["detail"]["items"])
        assert set(problem["required"]) == {"loc", "msg", "type"}
        if method != "PUT" and ("{job_id}" in path or "{image_id}" in path or "{name}" in path):
            assert "404" in responses, (method, path)
    by_key = {(method, path): operation["responses"] for method, path, operation in operations}
    assert {"403", "404", "409"} <= set(by_key["POST", "/studio/v1/extensions/install"])
    assert "409" in by_key["DELETE", "/studio/v1/jobs/{job_id}"]
    assert "409" in by_key["POST", "/studio/v1/jobs/{job_id}/requeue"]


def test_real_4xx_answers_match_the_declared_shapes(live: LiveServer) -> None:
    missing = httpx.get(f"{live.url}/studio/v1/jobs/nope")
    assert missing.status_code == 404 and isinstance(missing.json()["detail"], str)
    no_script = httpx.get(f"{live.url}/studio/v1/scripts/nope")
    assert no_script.status_code == 404 and "nope" in no_script.json()["detail"]
    huge = httpx.get(f"{live.url}/studio/v1/jobs", params={"offset": 2**64})  # found by the fuzz test
    assert huge.status_code == 422 and huge.json()["detail"][0]["loc"] == ["query", "offset"]
    bad = httpx.post(f"{live.url}/studio/v1/extensions/install", json={"source": "ftp://example.org/x"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "source"]
