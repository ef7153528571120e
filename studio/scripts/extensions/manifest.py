"""An extension's manifest: `extension.toml` at the root of its folder.

    name = "caption-stamp"            # the folder name; letters, digits, . _ -
    version = "1.0.0"
    description = "Stamps a caption on every image"
    requires = ["other-extension"]    # must be installed and enabled; loaded first
    load_after = ["some-extension"]   # order only (ignored when absent)
    load_before = ["another"]
    scripts = ["scripts/stamp.py"]    # default: every scripts/*.py

A folder without a manifest (an A1111-style extension) gets its folder name and version "0".
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

MANIFEST_NAME = "extension.toml"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class ExtensionError(ValueError):
    """An extension operation failed; `status` is the HTTP status the API answers with (422:
    what was given cannot be installed)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str = "0"
    description: str = ""
    requires: tuple[str, ...] = ()
    load_after: tuple[str, ...] = ()
    load_before: tuple[str, ...] = ()
    scripts: tuple[str, ...] = ()


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ExtensionError(f"bad extension name {name!r}: use letters, digits, '.', '_' and '-'")
    return name


def _strings(data: dict, key: str, source: Path) -> tuple[str, ...]:
    value = data.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ExtensionError(f"{source}: {key} must be a list of strings")
    return tuple(value)


def read_manifest(folder: Path) -> Manifest:
    """The folder's manifest, checked; raises ExtensionError naming the bad field."""
    path = folder / MANIFEST_NAME
    if not path.exists():
        return Manifest(name=check_name(folder.name))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ExtensionError(f"{MANIFEST_NAME}: not valid TOML ({error})") from error
    known = {"name", "version", "description", "requires", "load_after", "load_before", "scripts"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ExtensionError(
            f"{MANIFEST_NAME}: unknown key {unknown[0]!r}; known: {', '.join(sorted(known))}"
        )
    scripts = _strings(data, "scripts", path)
    for script in scripts:
        relative = Path(script)
        if relative.is_absolute() or ".." in relative.parts or relative.suffix != ".py":
            raise ExtensionError(
                f"{MANIFEST_NAME}: scripts entry {script!r} must be a .py path inside the folder"
            )
    return Manifest(
        name=check_name(data.get("name", folder.name)),
        version=str(data.get("version", "0")),
        description=str(data.get("description", "")),
        requires=_strings(data, "requires", path),
        load_after=_strings(data, "load_after", path),
        load_before=_strings(data, "load_before", path),
        scripts=scripts,
    )
