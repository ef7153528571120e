"""Getting an extension's files into a staging folder: from a folder, a zip, or git.

Each function fills an empty `target` folder and raises ExtensionError on failure; the caller
moves the staged folder into place only when everything succeeded.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path, PurePosixPath

from studio.scripts.extensions.manifest import MANIFEST_NAME, ExtensionError

GIT_TIMEOUT_S = 300
MAX_UNPACKED_BYTES = 1024 * 1024 * 1024  # a zip may unpack to at most 1 GiB
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


def looks_like_git(source: str) -> bool:
    return source.startswith(
        ("http://", "https://", "git://", "ssh://", "file://", "git@")
    ) or source.endswith(".git")


def copy_folder(source: Path, target: Path) -> None:
    if not source.is_dir():
        raise ExtensionError(f"{source} is not a folder", 404)
    shutil.copytree(source, target, ignore=_IGNORED, dirs_exist_ok=True, symlinks=False)


def _safe_member(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise ExtensionError(f"zip entry {name!r} escapes the extension folder; refused")
    return path


def extract_zip(archive: Path, target: Path) -> None:
    """Extract with every entry checked first; one bad entry refuses the whole zip.

    A zip whose entries all sit in one top folder (as GitHub makes them) is unwrapped."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()
            paths = []
            for member in members:
                path = _safe_member(member.filename)
                if stat.S_ISLNK(member.external_attr >> 16):
                    raise ExtensionError(f"zip entry {member.filename!r} is a symbolic link; refused")
                paths.append(path)
            unpacked = sum(member.file_size for member in members)
            if unpacked > MAX_UNPACKED_BYTES:
                raise ExtensionError(
                    f"the zip unpacks to {unpacked} bytes; at most {MAX_UNPACKED_BYTES}", 413
                )
            files = [path for path, member in zip(paths, members, strict=True) if not member.is_dir()]
            if not files:
                raise ExtensionError("the zip is empty")
            tops = {path.parts[0] for path in paths if path.parts}
            strip = (
                len(tops) == 1 and all(len(path.parts) > 1 for path in files) and MANIFEST_NAME not in tops
            )
            for path, member in zip(paths, members, strict=True):
                relative = PurePosixPath(*path.parts[1:]) if strip else path
                if not relative.parts:
                    continue
                destination = target.joinpath(*relative.parts)
                if member.is_dir():
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(member) as source, open(destination, "wb") as sink:
                    shutil.copyfileobj(source, sink)
    except zipfile.BadZipFile as error:
        raise ExtensionError(f"not a zip file ({error})") from error


def _git(args: list[str], cwd: Path | None = None) -> str:
    if shutil.which("git") is None:
        raise ExtensionError("git is not installed", 500)
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S, env=environment
        )
    except subprocess.TimeoutExpired as error:
        raise ExtensionError(f"git {args[0]} took longer than {GIT_TIMEOUT_S} s", 504) from error
    if done.returncode != 0:
        raise ExtensionError(f"git {args[0]} failed: {done.stderr.strip() or done.stdout.strip()}", 502)
    return done.stdout.strip()


def git_clone(url: str, target: Path) -> None:
    if url.startswith("-"):
        raise ExtensionError(f"bad git URL {url!r}")
    _git(["clone", "--quiet", "--", url, str(target)])


def git_pull(folder: Path) -> str:
    """Fast-forward the checkout; returns the new commit."""
    if not (folder / ".git").exists():
        raise ExtensionError(f"{folder.name} was not installed from git; nothing to update", 409)
    _git(["pull", "--quiet", "--ff-only"], cwd=folder)
    return git_commit(folder) or ""


def git_commit(folder: Path) -> str | None:
    if not (folder / ".git").exists():
        return None
    try:
        return _git(["rev-parse", "HEAD"], cwd=folder)
    except ExtensionError:
        return None
