"""Checks on uploaded files: safe names, safetensors headers, and a pickle import scan."""

from __future__ import annotations

import io
import itertools
import json
import pickletools
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ ()+\-]{0,199}$")
WINDOWS_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(1, 10)),
}

# format -> extensions a file of that format may have
FORMAT_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "SafeTensor": (".safetensors",),
    "PickleTensor": (".ckpt", ".pt", ".pth", ".bin"),
    "GGUF": (".gguf",),
    "ONNX": (".onnx",),
    "Diffusers": (".zip",),
    "Core ML": (".zip", ".mlmodel"),
    "Other": (".zip", ".yaml", ".yml", ".json", ".txt", ".png"),
}
SAFETENSORS_DTYPES = {
    "F64": "fp64",
    "F32": "fp32",
    "F16": "fp16",
    "BF16": "bf16",
    "F8_E4M3": "fp8",
    "F8_E5M2": "fp8",
    "I64": None,
    "I32": None,
    "I16": None,
    "I8": None,
    "U8": None,
    "U16": None,
    "U32": None,
    "U64": None,
    "BOOL": None,
}
DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8, "I32": 4}
DTYPE_SIZES |= {"I16": 2, "I8": 1, "U8": 1, "U16": 2, "U32": 4, "U64": 8, "BOOL": 1}

# Globals a clean PyTorch/numpy checkpoint pickle references (as picklescan's allow-list).
SAFE_GLOBALS: dict[str, set[str] | None] = {
    "collections": {"OrderedDict"},
    "torch": {
        "FloatStorage",
        "HalfStorage",
        "BFloat16Storage",
        "DoubleStorage",
        "IntStorage",
        "LongStorage",
        "ByteStorage",
        "CharStorage",
        "ShortStorage",
        "BoolStorage",
        "Size",
        "float16",
        "float32",
        "bfloat16",
    },
    "torch._utils": {"_rebuild_tensor_v2", "_rebuild_parameter"},
    "numpy.core.multiarray": {"_reconstruct", "scalar"},
    "numpy": {"dtype", "ndarray"},
    "_codecs": {"encode"},
}


class FileRejected(ValueError):
    """An uploaded file that must not be stored; the message names the problem."""


def check_file_name(name: str) -> str:
    """Return `name` if it is a safe bare file name, else raise FileRejected."""
    if not name or name != name.strip():
        raise FileRejected(f"file name {name!r}: empty or has leading/trailing spaces")
    if "/" in name or "\\" in name or "\x00" in name or name in (".", ".."):
        raise FileRejected(f"file name {name!r}: must be a bare file name without path separators")
    if ".." in name:
        raise FileRejected(f"file name {name!r}: must not contain '..'")
    if not SAFE_NAME.match(name):
        raise FileRejected(
            f"file name {name!r}: use letters, digits, spaces and ._()+- only, starting with a letter or digit"
        )
    if Path(name).stem.lower() in WINDOWS_RESERVED:
        raise FileRejected(f"file name {name!r}: reserved device name")
    return name


def format_for_name(name: str, declared: str | None) -> str:
    """The file format: the declared one (checked against the extension) or the extension's."""
    suffix = Path(name).suffix.lower()
    if declared:
        if declared not in FORMAT_EXTENSIONS:
            raise FileRejected(f"format {declared!r}: must be one of {', '.join(FORMAT_EXTENSIONS)}")
        if suffix not in FORMAT_EXTENSIONS[declared]:
            raise FileRejected(
                f"file {name!r}: extension {suffix or '(none)'} does not match format {declared} "
                f"({', '.join(FORMAT_EXTENSIONS[declared])})"
            )
        return declared
    for fmt, extensions in FORMAT_EXTENSIONS.items():
        if suffix in extensions:
            return fmt
    raise FileRejected(f"file {name!r}: unknown extension {suffix or '(none)'}; declare its format")


@dataclass(frozen=True)
class SafetensorsInfo:
    tensor_count: int
    precision: str | None  # the dominant floating dtype as Civitai's fp value
    metadata: dict[str, str]


def check_safetensors(path: Path, name: str | None = None) -> SafetensorsInfo:
    """Validate a safetensors file's header against its size; raise FileRejected when broken."""
    label = name or path.name
    size = path.stat().st_size
    with path.open("rb") as stream:
        head = stream.read(8)
        if len(head) < 8:
            raise FileRejected(f"{label}: not a safetensors file (shorter than its 8-byte header length)")
        (header_len,) = struct.unpack("<Q", head)
        if header_len < 2 or header_len > MAX_SAFETENSORS_HEADER or 8 + header_len > size:
            raise FileRejected(f"{label}: not a safetensors file (header length {header_len} is impossible)")
        raw = stream.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FileRejected(f"{label}: not a safetensors file (header is not JSON)") from None
    if not isinstance(header, dict):
        raise FileRejected(f"{label}: not a safetensors file (header is not an object)")
    data_size = size - 8 - header_len
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise FileRejected(f"{label}: safetensors __metadata__ must be an object")
    spans: list[tuple[int, int]] = []
    dtype_bytes: dict[str, int] = {}
    for tensor_name, info in header.items():
        if not isinstance(info, dict):
            raise FileRejected(f"{label}: tensor {tensor_name!r} entry is not an object")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in SAFETENSORS_DTYPES:
            raise FileRejected(f"{label}: tensor {tensor_name!r} has unknown dtype {dtype!r}")
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise FileRejected(f"{label}: tensor {tensor_name!r} has a bad shape")
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) for o in offsets)
            and 0 <= offsets[0] <= offsets[1] <= data_size
        ):
            raise FileRejected(f"{label}: tensor {tensor_name!r} has data offsets outside the file")
        count = 1
        for d in shape:
            count *= d
        if count * DTYPE_SIZES[dtype] != offsets[1] - offsets[0]:
            raise FileRejected(f"{label}: tensor {tensor_name!r} byte length does not match its shape")
        spans.append((offsets[0], offsets[1]))
        dtype_bytes[dtype] = dtype_bytes.get(dtype, 0) + offsets[1] - offsets[0]
    spans.sort()
    for (_, end), (start, _) in itertools.pairwise(spans):
        if start < end:
            raise FileRejected(f"{label}: tensors overlap in the data section")
    floating = {k: v for k, v in dtype_bytes.items() if SAFETENSORS_DTYPES[k]}
    precision = SAFETENSORS_DTYPES[max(floating, key=floating.__getitem__)] if floating else None
    return SafetensorsInfo(len(header), precision, {str(k): str(v) for k, v in metadata.items()})


@dataclass(frozen=True)
class PickleScan:
    result: str  # Civitai's pickleScanResult: Success | Danger | Error
    message: str


def _pickle_globals(data: bytes) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    strings: list[str] = []
    for opcode, arg, _ in pickletools.genops(io.BytesIO(data)):
        if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
            strings.append(str(arg))
        elif opcode.name in ("GLOBAL", "INST"):
            module, _, name = str(arg).partition(" ")
            found.add((module, name))
        elif opcode.name == "STACK_GLOBAL":
            if len(strings) >= 2:
                found.add((strings[-2], strings[-1]))
            else:
                found.add(("?", "?"))
    return found


def scan_pickle(path: Path) -> PickleScan:
    """Scan a pickle (or a PyTorch zip holding pickles) for imports outside the allow-list."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                payloads = [archive.read(n) for n in archive.namelist() if n.endswith(".pkl")]
        else:
            payloads = [path.read_bytes()]
        imports: set[tuple[str, str]] = set()
        for payload in payloads:
            imports |= _pickle_globals(payload)
    except Exception as exc:  # a broken pickle is reported, never executed
        return PickleScan("Error", f"could not parse the pickle: {type(exc).__name__}")
    dangerous = sorted(
        f"{m}.{n}"
        for m, n in imports
        if not (m in SAFE_GLOBALS and (SAFE_GLOBALS[m] is None or n in SAFE_GLOBALS[m]))
    )
    if dangerous:
        return PickleScan("Danger", "Dangerous imports: " + ", ".join(dangerous))
    listed = ", ".join(sorted(f"{m}.{n}" for m, n in imports)) or "none"
    return PickleScan("Success", f"Pickle imports: {listed}")
