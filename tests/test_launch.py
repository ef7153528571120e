"""launch.py: pip runs only when the venv lacks what a command needs, and the launcher is the program
it starts (SIGTERM to it stops the studio), plus `launch.py test`'s lint gate.

The subprocess tests start launch.py with the base interpreter, as a user does, on a "view" of the
venv the tests run in: a folder with its own pyvenv.cfg and stamp whose packages are the running
venv's (symlinked). So the real launcher path (stamp check, then exec) runs on the real packages,
while the running venv itself is never written to and never pip-installed into.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

import launch
from studio.cli import test as test_command
from studio.config import StudioConfig

IN_A_VENV = sys.prefix != sys.base_prefix
POSIX_VENV = pytest.mark.skipif(
    os.name == "nt" or not IN_A_VENV, reason="needs a POSIX venv to make a view of"
)


def write_stamp(folder: Path, extras: list[str], digest: str | None = None) -> None:
    stamp = {"pyproject_sha256": digest or launch.pyproject_digest(), "extras": extras}
    (folder / launch.STAMP_NAME).write_text(json.dumps(stamp), encoding="utf-8")


def fake_venv(folder: Path, extras: list[str] | None, digest: str | None = None) -> Path:
    python = launch.venv_python(folder)
    python.parent.mkdir(parents=True)
    python.touch()
    if extras is not None:
        write_stamp(folder, extras, digest)
    return folder


def venv_view(root: Path, extras: list[str]) -> Path:
    """A venv folder on the running venv's packages, stamped as holding `extras` for this pyproject."""
    view = root / "venv"
    (view / "bin").mkdir(parents=True)
    shutil.copy(Path(sys.prefix) / "pyvenv.cfg", view / "pyvenv.cfg")
    (view / "bin" / "python").symlink_to(sys._base_executable)
    (view / "lib").symlink_to(Path(sys.prefix) / "lib", target_is_directory=True)
    write_stamp(view, extras)
    return view


def pip_trap(root: Path) -> tuple[dict[str, str], Path]:
    """Environment where any pip launch.py could start fails at once and leaves `marker`.

    `python -m pip` finds the fake `pip` package first (PYTHONPATH), a bare `pip` the fake script
    (PATH), and a real pip would find no index. Besides proving pip is never called, this keeps
    a launcher bug from installing into the running venv through the view's symlinked packages.
    """
    marker = root / "pip-was-called"
    trap = root / "pip-trap"
    (trap / "pip").mkdir(parents=True)
    (trap / "pip" / "__init__.py").write_text("")
    (trap / "pip" / "__main__.py").write_text(f"open({str(marker)!r}, 'w').close()\nraise SystemExit(3)\n")
    (trap / "bin").mkdir()
    (trap / "bin" / "pip").write_text(f"#!/bin/sh\ntouch '{marker}'\nexit 3\n")
    (trap / "bin" / "pip").chmod(0o755)
    env = {
        "PATH": f"{trap / 'bin'}:/usr/bin:/bin",
        "PYTHONPATH": str(trap),
        "PIP_INDEX_URL": "http://127.0.0.1:9/",
        "PIP_NO_INDEX": "1",
    }
    return env, marker


def launcher_env(view: Path, home: Path, trap: dict[str, str], **extra: str) -> dict[str, str]:
    return {"ATELIER_VENV": str(view), "HOME": str(home), **trap, **extra}


@pytest.fixture
def no_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"pip was called: {args}")

    monkeypatch.setattr(launch.subprocess, "run", refuse)
    monkeypatch.setattr(launch.venv, "EnvBuilder", refuse)


@pytest.fixture
def pip_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []
    monkeypatch.setattr(launch.subprocess, "run", lambda command, check: calls.append(command))
    return calls


# -- the stamp: which installs run ----------------------------------------------------------------


def test_a_venv_with_a_superset_of_the_extras_never_calls_pip(tmp_path: Path, no_pip: None) -> None:
    folder = fake_venv(tmp_path / "venv", ["dev", "studio"])
    for extras in [(), ("studio",), ("dev",), ("studio", "dev")]:
        launch.ensure_installed(folder, extras)


def test_a_missing_extra_is_installed_with_the_ones_already_there(
    tmp_path: Path, pip_calls: list[list[str]]
) -> None:
    folder = fake_venv(tmp_path / "venv", ["studio"])
    launch.ensure_installed(folder, ("dev",))
    no_deps = launch.no_deps_requirements(("dev", "studio"))
    assert [call[-1] for call in pip_calls[:2]] == [launch.TORCH_PIN, f"{launch.ROOT}[dev,studio]"]
    assert pip_calls[2][-len(no_deps) :] == no_deps and len(pip_calls) == 3
    assert "--no-deps" in pip_calls[-1]  # spandrel: its declared torchvision would break torch
    assert launch.read_stamp(folder) == {
        "pyproject_sha256": launch.pyproject_digest(),
        "extras": ["dev", "studio"],
    }


def test_a_changed_pyproject_installs_again_what_the_command_needs(
    tmp_path: Path, pip_calls: list[list[str]]
) -> None:
    folder = fake_venv(tmp_path / "venv", ["dev", "studio"], digest="0" * 64)
    launch.ensure_installed(folder, ())
    assert [call[-2:] for call in pip_calls] == [["-e", str(launch.ROOT)]]  # the base: no torch
    assert launch.read_stamp(folder) == {"pyproject_sha256": launch.pyproject_digest(), "extras": []}


@pytest.mark.parametrize("stamp_text", [None, "not json", "[]"])
def test_no_or_a_broken_stamp_installs(
    tmp_path: Path, pip_calls: list[list[str]], stamp_text: str | None
) -> None:
    folder = fake_venv(tmp_path / "venv", None)
    if stamp_text is not None:
        (folder / launch.STAMP_NAME).write_text(stamp_text)
    launch.ensure_installed(folder, ("studio",))
    no_deps = launch.no_deps_requirements(("studio",))
    assert [call[-1] for call in pip_calls[:2]] == [launch.TORCH_PIN, f"{launch.ROOT}[studio]"]
    assert pip_calls[2][-len(no_deps) :] == no_deps and len(pip_calls) == 3


def test_a_missing_venv_is_created_even_with_a_stamp_left_behind(
    tmp_path: Path, pip_calls: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "venv"
    folder.mkdir()
    write_stamp(folder, ["dev", "studio"])
    created: list[Path] = []

    class Builder:
        def __init__(self, with_pip: bool) -> None:
            assert with_pip

        def create(self, target: Path) -> None:
            created.append(target)

    monkeypatch.setattr(launch.venv, "EnvBuilder", Builder)
    launch.ensure_installed(folder, ())
    assert created == [folder] and len(pip_calls) == 1


@POSIX_VENV
def test_hub_runs_offline_in_a_studio_venv_without_pip(tmp_path: Path) -> None:
    """`launch.py hub --help` from outside a venv made for the studio: no pip, no index needed."""
    view = venv_view(tmp_path, ["dev", "studio"])
    trap, marker = pip_trap(tmp_path)
    env = launcher_env(view, tmp_path, trap)
    process = subprocess.run(
        [sys._base_executable, str(launch.ROOT / "launch.py"), "hub", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    assert "usage" in process.stdout.lower()
    assert not marker.exists()
    assert json.loads((view / launch.STAMP_NAME).read_text())["extras"] == ["dev", "studio"]


# -- the launcher is the program it starts ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/sdapi/v1/progress", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.slow
@POSIX_VENV
def test_sigterm_to_launch_py_stops_the_studio(tmp_path: Path, studio_config: StudioConfig) -> None:
    view = venv_view(tmp_path, ["dev", "studio"])
    port = free_port()
    trap, marker = pip_trap(tmp_path)
    env = launcher_env(
        view,
        tmp_path,
        trap,
        ATELIER_BUILTIN_MODELS_DIR=str(studio_config.builtin_models_path),
        OMP_NUM_THREADS="1",
    )
    command = [sys._base_executable, str(launch.ROOT / "launch.py"), "serve", "--api-only", "--no-browser"]
    command += ["--port", str(port), "--data-dir", str(studio_config.data_dir), "--log-level", "warning"]
    log = tmp_path / "studio.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    tree: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 120
        while not answers(port):
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the studio did not start"
            time.sleep(0.2)
        launcher = psutil.Process(process.pid)
        tree = [launcher, *launcher.children(recursive=True)]
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) in (0, -signal.SIGTERM), log.read_text()[-2000:]
        _, alive = psutil.wait_procs(tree, timeout=30)
        assert alive == [], f"left running: {alive}"
        assert not answers(port)
        assert not marker.exists()
    finally:
        if process.poll() is None:
            process.kill()
        for member in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.kill()
        process.wait(10)


@pytest.mark.skipif(
    os.name == "nt", reason="os.kill(SIGTERM) is TerminateProcess on Windows: no handler runs"
)
def test_without_exec_the_launcher_passes_sigterm_to_its_child(tmp_path: Path) -> None:
    """The Windows path (`run_child_forwarding_signals`), exercised here on POSIX."""
    child = "import time; print('up', flush=True); time.sleep(120)"
    script = f"import sys, launch; sys.exit(launch.run_child_forwarding_signals([sys.executable, '-c', {child!r}]))"
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=launch.ROOT,
        env={**os.environ, "PYTHONPATH": str(launch.ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    tree: list[psutil.Process] = []
    try:
        assert process.stdout is not None and process.stdout.readline() == "up\n"
        launcher = psutil.Process(process.pid)
        tree = [launcher, *launcher.children(recursive=True)]
        assert len(tree) == 2
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        _, alive = psutil.wait_procs(tree, timeout=30)
        assert alive == []
    finally:
        for member in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.kill()
        if process.poll() is None:
            process.kill()
        process.wait(10)


# -- `launch.py test`: ruff before the whole suite ----------------------------------------------------


def test_the_whole_suite_is_linted_first_and_a_lint_failure_stops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran: list[list[str]] = []

    def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
        ran.append(command[3:-1])
        return subprocess.CompletedProcess(command, 1 if command[3] == "format" else 0)

    monkeypatch.setattr(test_command.subprocess, "run", run)
    monkeypatch.setattr(pytest, "main", lambda args: ran.append(["pytest", *args[-1:]]) or 0)
    assert test_command.main([]) == 1
    assert ran == [["check"], ["format", "--check"]]  # no pytest after the failed format check

    ran.clear()
    monkeypatch.setattr(
        test_command.subprocess, "run", lambda command, cwd: subprocess.CompletedProcess(command, 0)
    )
    assert test_command.main([]) == 0
    assert ran == [["pytest", str(test_command.PROJECT_ROOT / "tests")]]

    ran.clear()
    monkeypatch.setattr(test_command.subprocess, "run", lambda *a, **k: pytest.fail("linted"))
    assert test_command.main(["tests/test_launch.py"]) == 0  # with arguments: pytest alone
    assert ran == [["pytest", "tests/test_launch.py"]]
