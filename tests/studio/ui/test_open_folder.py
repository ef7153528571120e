"""Open folder: honest on a server without a display, and no zombie child left behind."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from studio.ui.output import open_folder

pytestmark = pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the Linux desktop path")


def test_no_display_says_so(tmp_path: Path) -> None:
    message = open_folder(tmp_path / "out", {"PATH": os.environ.get("PATH", "")})
    assert "no desktop display" in message and str(tmp_path / "out") in message


def test_the_launcher_child_is_reaped(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "xdg-open"
    record = tmp_path / "opened.txt"
    launcher.write_text(f'#!/bin/sh\necho "$1" > {record}\n')
    launcher.chmod(0o755)
    children_before = set(_children())
    message = open_folder(tmp_path / "out", {"PATH": str(bin_dir), "DISPLAY": ":0"})
    assert message.startswith("Asked the file manager")
    deadline = time.monotonic() + 10
    while not (record.exists() and not _zombies(children_before)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert record.read_text().strip() == str(tmp_path / "out")
    assert not _zombies(children_before)


def _children() -> dict[int, str]:
    """This process's children: pid -> state letter (Z = a zombie nobody reaped), from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            found[int(entry.name)] = fields[0]
    return found


def _zombies(ignore: set[int]) -> list[int]:
    return [pid for pid, state in _children().items() if state == "Z" and pid not in ignore]
