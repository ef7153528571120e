#!/usr/bin/env python3
"""Atelier launcher: makes `.venv` on first use, installs the project into it, then runs.

    python launch.py                 start the studio (UI + API) on http://127.0.0.1:7860
    python launch.py generate ...    generate from the command line
    python launch.py test [args]     run the test suite (installs the dev extras first)
    python launch.py hub ...         the local hub (mirror, search, downloads)
    python launch.py hub-server ...  the hub server (Civitai-compatible API)
    python launch.py train-starter   train the built-in starter model

Only the standard library is used until we are inside the virtual environment. One stamp file
in the environment, `.atelier-install.json`, records the `pyproject.toml` it was installed from and
the extras installed; pip runs only when that file changed or a needed extra is missing, so a
second launch starts at once and a studio environment runs `hub` offline. Set ATELIER_VENV to use
another environment folder.

On POSIX the launcher then becomes the command (`os.execv`): Ctrl+C and SIGTERM reach the studio
itself, which stops cleanly. Windows has no exec: the launcher waits for the command as a child
and passes termination on to it.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TORCH_PIN = "torch==2.13.0"
STAMP_NAME = ".atelier-install.json"  # in the venv: {"pyproject_sha256": ..., "extras": [...]}

# subcommand -> (module whose main(argv) runs it, extras it needs installed)
COMMANDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "serve": ("studio.cli.serve", ("studio",)),
    "generate": ("studio.cli.generate", ("studio",)),
    "train-starter": ("studio.starter.train", ("studio",)),
    "test": ("studio.cli.test", ("studio", "dev")),
    "hub": ("hub.cli", ()),
    "hub-server": ("hub.server.cli", ()),
}


def venv_dir() -> Path:
    return Path(os.environ.get("ATELIER_VENV") or ROOT / ".venv")


def venv_python(folder: Path) -> Path:
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def inside(folder: Path) -> bool:
    return Path(sys.prefix).resolve() == folder.resolve()


def pyproject_digest() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def read_stamp(folder: Path) -> dict[str, object] | None:
    """What the last install recorded in `folder`, or None (none yet, or unreadable)."""
    try:
        stamp = json.loads((folder / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def extras_to_install(
    stamp: dict[str, object] | None, digest: str, extras: tuple[str, ...]
) -> tuple[str, ...] | None:
    """None when the environment already has `extras` (or more) for this pyproject; else what to install.

    A missing extra is installed together with the ones already there, so the stamp keeps
    recording everything the environment holds; a changed pyproject starts over from `extras`.
    """
    if stamp is None or stamp.get("pyproject_sha256") != digest:
        return tuple(sorted(extras))
    installed = stamp.get("extras")
    have = {str(extra) for extra in installed} if isinstance(installed, list) else set()
    if have.issuperset(extras):
        return None
    return tuple(sorted(have | set(extras)))


def no_deps_requirements(extras: tuple[str, ...] | list[str]) -> list[str]:
    """Requirements of `extras` that pyproject's [tool.atelier.no-deps] says to install without
    their declared dependencies (a declared torchvision would break this torch)."""
    import tomllib

    table = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    no_deps = table.get("tool", {}).get("atelier", {}).get("no-deps", {})
    return [requirement for extra in extras for requirement in no_deps.get(extra, [])]


def ensure_installed(folder: Path, extras: tuple[str, ...]) -> None:
    """Create the venv and install the project with `extras`, unless the venv already has them."""
    python = venv_python(folder)
    digest = pyproject_digest()
    todo = extras_to_install(read_stamp(folder) if python.exists() else None, digest, extras)
    if todo is None:
        return
    if not python.exists():
        print(f"Creating virtual environment in {folder} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(folder)
    pip = [str(python), "-m", "pip", "install", "-qq", "--disable-pip-version-check"]
    if "studio" in todo:
        # Install torch alone first so pip takes the exact local build, never a CUDA one.
        print(f"Installing {TORCH_PIN} ...", flush=True)
        subprocess.run([*pip, TORCH_PIN], check=True)
    target = f"{ROOT}[{','.join(todo)}]" if todo else str(ROOT)
    print(f"Installing Atelier ({', '.join(todo) or 'base'}) ...", flush=True)
    subprocess.run([*pip, "-e", target], check=True)
    no_deps = no_deps_requirements(todo)
    if no_deps:
        subprocess.run([*pip, "--no-deps", *no_deps], check=True)
    stamp = {"pyproject_sha256": digest, "extras": list(todo)}
    (folder / STAMP_NAME).write_text(json.dumps(stamp), encoding="utf-8")


def run_child_forwarding_signals(command: list[str]) -> int:
    """Windows: run `command`, wait for it, and pass a termination request on to it.

    Ctrl+C and Ctrl+Break reach every process on the console, the child included, so the
    launcher only keeps waiting while the child shuts down; a SIGTERM raised in the launcher
    is passed on as `terminate()`. (A hard kill of the launcher cannot be passed on.)
    """
    child = subprocess.Popen(command)

    def forward(signum: int, _frame: object) -> None:
        if signum == signal.SIGTERM:
            child.terminate()

    names = ("SIGINT", "SIGTERM", "SIGBREAK")
    previous = {
        number: signal.signal(number, forward)
        for number in (getattr(signal, n) for n in names if hasattr(signal, n))
    }
    try:
        return child.wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def run_in_venv(python: Path, argv: list[str]) -> int:
    """Run this script again with the venv's Python: as this very process on POSIX."""
    command = [str(python), str(Path(__file__).resolve()), *argv]
    if os.name != "nt":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(command[0], command)  # does not return: this process is now the command
    return run_child_forwarding_signals(command)


def split_command(argv: list[str]) -> tuple[str, list[str]]:
    if argv and argv[0] in COMMANDS:
        return argv[0], argv[1:]
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        raise SystemExit(0)
    return "serve", argv


def main(argv: list[str]) -> int:
    command, rest = split_command(argv)
    module_name, extras = COMMANDS[command]
    folder = venv_dir()
    if not inside(folder):
        ensure_installed(folder, extras)
        return run_in_venv(venv_python(folder), argv)
    import importlib

    module = importlib.import_module(module_name)
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
