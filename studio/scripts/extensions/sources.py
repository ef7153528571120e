"""Getting an extension's files into a staging folder: from a folder, a zip, or git.

Each function fills an empty `target` folder and raises ExtensionError on failure; the caller
moves the staged folder into place only when everything succeeded.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import unicodedata
import urllib.parse
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from studio.scripts.extensions.manifest import MANIFEST_NAME, ExtensionError

GIT_TIMEOUT_S = 300
MAX_UNPACKED_BYTES = 1024 * 1024 * 1024  # a zip may unpack to at most 1 GiB
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


REMOTE_SCHEMES = ("https", "ssh")
KINDS = ("auto", "folder", "zip", "git")
# scp-like ssh: user@host:path, as `git@github.com:owner/repo.git`
_SCP_LIKE = re.compile(
    r"^(?P<user>[A-Za-z0-9_][A-Za-z0-9._-]*)@(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*):(?P<path>.+)$"
)
_HOST = re.compile(r"^(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|[0-9a-f:.]+)$")
_URL_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


@dataclass(frozen=True)
class InstallSource:
    """Where an install comes from, decided by parsing the text the client sent (never by its
    suffix): a remote git URL, or a path on the studio's machine."""

    kind: str  # "git" | "zip" | "folder"
    location: str  # the URL as given (remote), or the absolute path (local)
    remote: bool


def remote_git_url(source: str) -> str | None:
    """`source` when it is a remote git URL Atelier clones from: `https://host/path`,
    `ssh://[user@]host[:port]/path` or scp-like `user@host:path`; None otherwise.

    Refused (None): other schemes (`file://`, `ext::` and other git transports, `http://`,
    `git://`), an option in disguise (a leading `-`, a host starting with `-`), whitespace or
    control characters, and `::` anywhere (git's `<transport>::<address>` syntax)."""
    if not source or source.startswith("-") or "::" in source:
        return None
    if any(char.isspace() or unicodedata.category(char) == "Cc" for char in source):
        return None
    scp = _SCP_LIKE.match(source)
    if scp is not None and "/" not in scp["host"]:
        path = scp["path"]
        return None if path.startswith("-") else source
    try:
        parts = urllib.parse.urlsplit(source)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return None
    if parts.scheme.lower() not in REMOTE_SCHEMES or not source.lower().startswith(
        f"{parts.scheme.lower()}://"
    ):
        return None
    host = parts.hostname or ""
    if not host or not _HOST.match(host) or not parts.path.strip("/"):
        return None
    return source


def parse_source(source: str, kind: str = "auto") -> InstallSource:
    """What `source` is: a remote git URL (`remote_git_url`) or a local absolute path (a folder,
    a .zip file, or a git checkout), `file://` URLs included; ExtensionError (422) for anything
    else, saying why. `kind` (auto, folder, zip, git) must agree with the source."""
    if kind not in KINDS:
        raise ExtensionError(f"unknown install kind {kind!r}; use {', '.join(KINDS)}", 422)
    if not isinstance(source, str) or not source.strip():
        raise ExtensionError("source: give a git URL (https:// or ssh) or a path", 422)
    url = remote_git_url(source)
    if url is not None:
        if kind in ("folder", "zip"):
            raise ExtensionError(f"source: a {kind} is a path on the studio's machine, not a URL", 422)
        return InstallSource("git", url, remote=True)
    text = source
    if source.lower().startswith("file://"):
        parts = urllib.parse.urlsplit(source)
        if parts.netloc not in ("", "localhost"):
            raise ExtensionError("source: a file:// URL must name a path on the studio's machine", 422)
        text = urllib.parse.unquote(parts.path)
    elif _URL_LIKE.match(source) and not _WINDOWS_DRIVE.match(source):
        raise ExtensionError(
            f"source: {source.split(':', 1)[0]!r} URLs are not installed from; give an https:// or "
            "ssh (user@host:path) git URL, or a path on the studio's machine",
            422,
        )
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise ExtensionError("source: control characters in the path", 422)
    return InstallSource(kind, text, remote=False)


def local_source(parsed: InstallSource) -> tuple[str, Path]:
    """The kind and the resolved absolute path of a local source (ExtensionError: 422 for a
    relative path, 404 for one that is not there)."""
    path = Path(parsed.location).expanduser()
    if not path.is_absolute():
        raise ExtensionError(f"source: {parsed.location!r} is a relative path; give an absolute one", 422)
    path = path.resolve()
    kind = parsed.kind
    if kind == "auto":
        if path.is_file() and path.suffix.lower() == ".zip":
            kind = "zip"
        elif path.is_dir():
            kind = "git" if (path / ".git").exists() else "folder"
        else:
            raise ExtensionError(f"{parsed.location!r} is not a folder, a .zip file or a git URL", 404)
    return kind, path


def copy_folder(source: Path, target: Path) -> None:
    if not source.is_dir():
        raise ExtensionError(f"{source} is not a folder", 404)
    if not (source / MANIFEST_NAME).is_file() and not (source / "scripts").is_dir():
        raise ExtensionError(
            f"{source} is not an extension folder (no {MANIFEST_NAME} and no scripts/ folder)", 422
        )
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


def _git(args: list[str], cwd: Path | None = None, protocols: str = "https:ssh") -> str:
    """Run git with only `protocols` allowed (GIT_ALLOW_PROTOCOL: also for redirects and
    submodules), never prompting."""
    if shutil.which("git") is None:
        raise ExtensionError("git is not installed", 500)
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ALLOW_PROTOCOL": protocols}
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S, env=environment
        )
    except subprocess.TimeoutExpired as error:
        raise ExtensionError(f"git {args[0]} took longer than {GIT_TIMEOUT_S} s", 504) from error
    if done.returncode != 0:
        raise ExtensionError(f"git {args[0]} failed: {done.stderr.strip() or done.stdout.strip()}", 502)
    return done.stdout.strip()


def git_clone(source: InstallSource, target: Path) -> None:
    """Clone a remote URL (https/ssh only) or a local checkout (file protocol only)."""
    if source.remote:
        if remote_git_url(source.location) is None:
            raise ExtensionError(f"bad git URL {source.location!r}", 422)
        _git(["clone", "--quiet", "--", source.location, str(target)])
    else:
        folder = Path(source.location)
        if not folder.is_absolute():
            raise ExtensionError(f"{source.location!r} is a relative path; give an absolute one", 422)
        _git(["clone", "--quiet", "--", str(folder), str(target)], protocols="file")


def git_pull(folder: Path, *, remote: bool = True) -> str:
    """Fast-forward the checkout (over https/ssh, or `file` for a local origin); returns the new
    commit."""
    if not (folder / ".git").exists():
        raise ExtensionError(f"{folder.name} was not installed from git; nothing to update", 409)
    _git(["pull", "--quiet", "--ff-only"], cwd=folder, protocols="https:ssh" if remote else "file")
    return git_commit(folder) or ""


def git_commit(folder: Path) -> str | None:
    if not (folder / ".git").exists():
        return None
    try:
        return _git(["rev-parse", "HEAD"], cwd=folder)
    except ExtensionError:
        return None
