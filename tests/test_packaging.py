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


def test_no_requirement_pulls_torchvision_and_spandrel_installs_without_its_deps():
    # spandrel declares torchvision; the torchvision pip resolves for torch 2.13.0 fails at import
    # and breaks transformers, so spandrel is installed by launch.py with --no-deps instead.
    for extra, requirements in PYPROJECT["project"]["optional-dependencies"].items():
        assert not names(requirements) & {"torchvision", "spandrel"}, extra
    assert launch.no_deps_requirements(("studio", "dev")) == [
        "spandrel>=0.4,<1",
        "spandrel-extra-arches>=0.2,<1",
    ]
    assert launch.no_deps_requirements(()) == []
