"""Putting a verified download into the models folder without overwriting anything.

A download never replaces a file it did not write: when the name is taken by a different file
(or by the sidecar of one), both are kept and the new file gets a number, `name (1).ext`,
`name (2).ext`, ... A file already there with the same content (same SHA256) is the download
itself, done before. The move is no-clobber (a hard link, which fails when the name exists,
then the partial file's name is dropped), so a file that appears between the check and the
move is not overwritten either.

The sidecar of `x.safetensors` is `x.safetensors.hub.json`: the whole file name plus a suffix
of its own, so a hub file named `x.json` keeps its name, two files that differ only in their
extension get two sidecars, and A1111's own `<stem>.json` (its user metadata) is left alone.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

SIDECAR_SUFFIX = ".hub.json"
MAX_COPIES = 1000
CHUNK = 1024 * 1024


class NameTaken(FileExistsError):
    """Every numbered name up to MAX_COPIES is taken."""


def sidecar_path(model_file: Path) -> Path:
    return model_file.with_name(model_file.name + SIDECAR_SUFFIX)


def numbered(path: Path, number: int) -> Path:
    """`name.ext` for 0, else `name (number).ext` (the last suffix only: `a.b (1).json`)."""
    if number == 0:
        return path
    suffix = path.suffix
    stem = path.name[: -len(suffix)] if suffix else path.name
    return path.with_name(f"{stem} ({number}){suffix}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest().upper()


def find_place(destination: Path, sha256: str | None, hash_of: Callable[[Path], str]) -> tuple[Path, bool]:
    """(path, already there): the first of `destination`, `destination (1)`, ... that holds a
    file with this SHA256 (the download is done), else the first whose name and sidecar name
    are both free. `hash_of` may cache (a big file that merely shares the name is hashed once)."""
    for number in range(MAX_COPIES):
        candidate = numbered(destination, number)
        if candidate.exists() or candidate.is_symlink():
            if sha256 and candidate.is_file() and hash_of(candidate) == sha256:
                return candidate, True
            continue
        if sidecar_path(candidate).exists():
            continue  # the sidecar's name is someone's file
        return candidate, False
    raise NameTaken(f"{destination}: {MAX_COPIES} files of this name already exist")


def move_no_clobber(source: Path, target: Path) -> None:
    """Move `source` to `target`; FileExistsError when `target` exists (nothing is replaced)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno == errno.EXDEV:  # another filesystem: copy beside the target first
            staging = target.with_name(f".{target.name}.incoming")
            shutil.copyfile(source, staging)
            try:
                move_no_clobber(staging, target)
            finally:
                staging.unlink(missing_ok=True)
            source.unlink(missing_ok=True)
            return
        # No hard links on this filesystem: check, then rename (a much smaller window).
        if target.exists():
            raise FileExistsError(errno.EEXIST, "file exists", str(target)) from error
        os.replace(source, target)
        return
    source.unlink(missing_ok=True)


def is_hub_sidecar(path: Path) -> bool:
    """Whether this file is a sidecar a hub download wrote (so a later download may refresh it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {"modelId", "versionId", "file"} <= data.keys()


def write_sidecar(model_file: Path, data: dict[str, Any]) -> Path | None:
    """Write the sidecar of `model_file` atomically; a file of that name that is not a hub
    sidecar is left alone (returns None then)."""
    path = sidecar_path(model_file)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, ensure_ascii=False)
        if path.exists():
            if not is_hub_sidecar(path):
                return None
            os.replace(tmp, path)
        else:
            try:
                move_no_clobber(Path(tmp), path)
            except FileExistsError:
                return None
        return path
    finally:
        Path(tmp).unlink(missing_ok=True)
