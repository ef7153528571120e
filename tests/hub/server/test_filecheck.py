import json
import os
import pickle
import zipfile
from pathlib import Path

import pytest

from hub.server.filecheck import (
    FileRejected,
    check_file_name,
    check_safetensors,
    format_for_name,
    scan_pickle,
)
from tests.hub.server.conftest import safetensors_bytes


def test_safetensors_header_checks(tmp_path: Path) -> None:
    good = tmp_path / "good.safetensors"
    good.write_bytes(safetensors_bytes(10))
    info = check_safetensors(good)
    assert info.tensor_count == 1 and info.precision == "fp32" and info.metadata == {"s": "0"}
    data = good.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    bad_cases = {
        "short": b"abc",
        "huge-length": (10**12).to_bytes(8, "little") + b"{}",
        "not-json": (4).to_bytes(8, "little") + b"nope",
        "truncated": data[:-4],
        "bad-dtype": _with(header, data, n, dtype="Q9"),
        "bad-shape": _with(header, data, n, shape=[11]),
    }
    for name, raw in bad_cases.items():
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(raw)
        with pytest.raises(FileRejected):
            check_safetensors(path)


def _with(header: dict, data: bytes, n: int, **changes) -> bytes:
    changed = json.loads(json.dumps(header))
    changed["weight"].update(changes)
    raw = json.dumps(changed).encode()
    return len(raw).to_bytes(8, "little") + raw + data[8 + n :]


def test_file_names_and_formats() -> None:
    assert check_file_name("My Model (v2)+fp16.safetensors")
    for bad in ("../x.safetensors", "a/b", "a\\b", ".x", "", " x", "nul.ckpt", "x\x00.pt", "a..b.pt"):
        with pytest.raises(FileRejected):
            check_file_name(bad)
    assert format_for_name("x.ckpt", None) == "PickleTensor"
    assert format_for_name("x.zip", "Diffusers") == "Diffusers"
    with pytest.raises(FileRejected):
        format_for_name("x.bin", "SafeTensor")
    with pytest.raises(FileRejected):
        format_for_name("x.exe", None)


def test_pickle_scan_flags_dangerous_imports_without_loading(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"x": Evil()}))
    scan = scan_pickle(evil)
    assert scan.result == "Danger" and "system" in scan.message
    zipped = tmp_path / "zipped.pt"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"x": Evil()}))
    assert scan_pickle(zipped).result == "Danger"
    clean = tmp_path / "clean.ckpt"
    clean.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))
    assert scan_pickle(clean).result == "Success"
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"\x80\x04garbage")
    assert scan_pickle(broken).result == "Error"
