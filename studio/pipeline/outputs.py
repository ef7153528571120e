"""Where generated images go: `outputs/<mode>-images/YYYY-MM-DD/NNNNN-SEED.png`, written atomically."""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from pathlib import Path

NUMBERED = re.compile(r"^(\d+)-")
MODE_FOLDERS = {"txt2img": "txt2img-images", "img2img": "img2img-images", "inpaint": "img2img-images"}


def output_folder(outputs_root: Path, mode: str, today: dt.date | None = None) -> Path:
    day = (today or dt.date.today()).isoformat()
    return Path(outputs_root) / MODE_FOLDERS[mode] / day


def next_number(folder: Path) -> int:
    """One more than the highest `NNNNN-` prefix in `folder` (0 when empty), like A1111."""
    if not folder.is_dir():
        return 0
    numbers = [int(m.group(1)) for p in folder.iterdir() if (m := NUMBERED.match(p.name))]
    return max(numbers, default=-1) + 1


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp", prefix=".") as handle:
        handle.write(data)
        name = handle.name
    os.chmod(name, 0o644)
    os.replace(name, path)


def save_image(
    outputs_root: Path, mode: str, seed: int, png: bytes, today: dt.date | None = None, suffix: str = "png"
) -> Path:
    """Write `png` (or the encoded image of format `suffix`) as the next numbered file for
    `mode` and return its path (never overwrites)."""
    folder = output_folder(outputs_root, mode, today)
    folder.mkdir(parents=True, exist_ok=True)
    number = next_number(folder)
    while True:
        path = folder / f"{number:05d}-{seed}.{suffix}"
        if not path.exists():
            write_atomic(path, png)
            return path
        number += 1
