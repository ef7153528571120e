#!/usr/bin/env python3
"""Atelier launcher: makes `.venv` on first use, installs the project into it, then runs.

    python launch.py                 start the studio (UI + API) on http://127.0.0.1:7860
    python launch.py generate ...    generate from the command line
    python launch.py test [args]     run the test suite (installs the dev extras first)
    python launch.py hub ...         the local hub (mirror, search, downloads)
    python launch.py hub-server ...  the hub server (Civitai-compatible API)
    python launch.py train-starter   train the built-in starter model

Only the standard library is used until we are inside the virtual environment. The install
is skipped when `pyproject.toml` and the requested extras have not changed since the last one,
so a second launch starts at once. Set ATELIER_VENV to use another environment folder.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TORCH_PIN = "torch==2.13.0"

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


def install_stamp(extras: tuple[str, ...]) -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(",".join(sorted(extras)).encode())
    return digest.hexdigest()


def ensure_installed(folder: Path, extras: tuple[str, ...]) -> None:
    """Create the venv and install the project with `extras`, unless already done."""
    stamp_file = folder / f".atelier-installed-{'-'.join(sorted(extras)) or 'base'}"
    stamp = install_stamp(extras)
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        return
    python = venv_python(folder)
    if not python.exists():
        print(f"Creating virtual environment in {folder} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(folder)
    pip = [str(python), "-m", "pip", "install", "-qq", "--disable-pip-version-check"]
    if "studio" in extras:
        # Install torch alone first so pip takes the exact local build, never a CUDA one.
        print(f"Installing {TORCH_PIN} ...", flush=True)
        subprocess.run([*pip, TORCH_PIN], check=True)
    target = f"{ROOT}[{','.join(sorted(extras))}]" if extras else str(ROOT)
    print(f"Installing Atelier ({', '.join(extras) or 'base'}) ...", flush=True)
    subprocess.run([*pip, "-e", target], check=True)
    stamp_file.write_text(stamp)


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
        python = venv_python(folder)
        return subprocess.run([str(python), str(Path(__file__).resolve()), *argv]).returncode
    import importlib

    module = importlib.import_module(module_name)
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
