"""Fixtures for the scripts area: extension folders, zips and git repos built in tmp_path."""

from __future__ import annotations

import subprocess
import textwrap
import zipfile
from pathlib import Path

import pytest

from studio.scripts.extensions import ExtensionManager
from studio.scripts.manager import ScriptManager


def write_extension(folder: Path, name: str, word: str, manifest_extra: str = "") -> Path:
    """An extension whose script appends `word` to the prompt (before_process)."""
    (folder / "scripts").mkdir(parents=True, exist_ok=True)
    (folder / "extension.toml").write_text(f'name = "{name}"\nversion = "1.0"\n{manifest_extra}')
    class_name = "S_" + name.replace("-", "_")
    (folder / "scripts" / "main.py").write_text(
        textwrap.dedent(f"""
        from studio.api import Param, Script, hookimpl, replace

        class {class_name}(Script):
            name = "{name}"
            params = (Param("word", "str", default="{word}"),)

            @hookimpl
            def before_process(self, request, args):
                return replace(request, prompt=request.prompt + " " + args["word"])
        """)
    )
    return folder


def zip_folder(folder: Path, archive: Path, top: str | None = None) -> Path:
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder).as_posix()
            bundle.write(path, f"{top}/{relative}" if top else relative)
    return archive


def git(folder: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main", *args],
        cwd=folder, check=True, capture_output=True,
    )  # fmt: skip


@pytest.fixture
def extension_manager(tmp_path: Path) -> ExtensionManager:
    return ExtensionManager(
        tmp_path / "data" / "extensions", tmp_path / "data" / "extensions.json", ScriptManager()
    )
