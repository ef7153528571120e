"""What pyproject promises: the runtime extras carry what the runtime needs."""

from __future__ import annotations

import tomllib
from pathlib import Path

import launch

PYPROJECT = tomllib.loads((Path(launch.__file__).parent / "pyproject.toml").read_text(encoding="utf-8"))


def names(requirements: list[str]) -> set[str]:
    return {
        r.split(";")[0].split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip() for r in requirements
    }


def test_the_studio_extra_serves_websockets_without_the_dev_extras():
    # uvicorn answers WebSocket routes only when a WebSocket library is installed: the studio's
    # documented /studio/v1 event sockets must work on a normal install, not only a dev one.
    assert "websockets" in names(PYPROJECT["project"]["optional-dependencies"]["studio"])


def test_the_hub_needs_no_studio_packages():
    base = names(PYPROJECT["project"]["dependencies"])
    assert not base & {"torch", "diffusers", "transformers", "gradio"}


def test_every_top_level_package_is_shipped():
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {"studio*", "hub*", "sqlitedb*"} <= set(include)
