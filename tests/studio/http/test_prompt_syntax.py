"""The prompt language over HTTP: the token counter route, and prompts refused at submission."""

from __future__ import annotations

import httpx
import pytest

from .conftest import LiveServer


@pytest.fixture
def client(live: LiveServer) -> httpx.Client:
    with httpx.Client(base_url=live.url, timeout=60) as client:
        yield client


def test_tokenize_counts_like_a1111(client: httpx.Client) -> None:
    response = client.post(
        "/studio/v1/tokenize",
        json={
            "prompt": "a red circle, [blue:green square:3] <lora:detail:1>",
            "negative_prompt": "a blue square",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "prompt": {"tokens": 6, "capacity": 75},  # "a red circle ," + the longer edit
        "negative_prompt": {"tokens": 3, "capacity": 75},
    }
    long = client.post("/studio/v1/tokenize", json={"prompt": ", ".join(["red circle"] * 40)}).json()
    assert long["prompt"] == {"tokens": 119, "capacity": 150}
    # The step count decides what an edit at a fraction of the steps shows.
    assert (
        client.post("/studio/v1/tokenize", json={"prompt": "[a:b c d:0.5]", "steps": 1}).json()["prompt"][
            "tokens"
        ]
        == 3
    )


def test_tokenize_errors_name_the_field(client: httpx.Client) -> None:
    response = client.post("/studio/v1/tokenize", json={"prompt": "a", "model": "no such model"})
    assert response.status_code == 422 and response.json()["field"] == "model"
    response = client.post("/studio/v1/tokenize", json={"prompt": "a", "steps": 0})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "steps"]


def test_prompts_the_engine_cannot_honour_are_refused_at_submission(client: httpx.Client) -> None:
    for api, body in (
        ("/studio/v1/jobs", {"payload": {"prompt": "a castle AND a forest", "steps": 2, "cfg_scale": 1}}),
        ("/sdapi/v1/txt2img", {"prompt": "a (castle:x)", "negative_prompt": "(fog:1.2.3)", "steps": 2}),
    ):
        response = client.post(api, json=body)
        assert response.status_code == 422, (api, response.text)
    assert response.json()["field"] == "negative_prompt" and "1.2.3" in response.text
