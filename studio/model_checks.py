"""Whether a model file can be used, decided before anything is queued or saved (torch-free).

The engine checks a request's checkpoint and VAE with `check_model_file` at submit time, and
the option and settings routes check a model before they save it as the default, so a model
that cannot load is a 422 naming the field and the reason, never a failed job later:

- a pickle file (.ckpt, .pt, .pth, .bin) is refused unless `allow_pickle` (`--allow-pickle`):
  unpickling runs whatever code the file holds;
- a `.safetensors` file must have a readable header whose tensors fit in the file (a truncated
  download or a file that is not safetensors at all is found here, reading only the header);
- a diffusers folder must have a readable `model_index.json` (a VAE folder: `config.json`), and
  every `.safetensors` weight file in it passes the same header check;
- a file or folder the registry listed but that is gone since is "missing".

What a header cannot tell (weights of another architecture, say) shows when the model loads:
the engine wraps loading in `load_errors_named`, so that is a RequestError naming the model
too (the job fails with it; the synchronous A1111 routes answer 422).
"""

from __future__ import annotations

import contextlib
import json
import math
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.request import RequestError

if TYPE_CHECKING:
    from studio.engine_view import ModelEntryView

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit
DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}


def pickle_refusal(suffix: str) -> str:
    return (
        f"refusing to load a pickle file ({suffix}): unpickling can run arbitrary code. Convert it "
        "to .safetensors, or start the studio with --allow-pickle (allow_pickle) if you trust where "
        "it came from."
    )


def safetensors_problem(path: Path) -> str | None:
    """Why the `.safetensors` file at `path` cannot be read, or None (reads the header only)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                return f"not a safetensors file ({size} bytes, too short for a header)"
            (header_size,) = struct.unpack("<Q", head)
            if header_size > MAX_HEADER_BYTES or 8 + header_size > size:
                return f"not a safetensors file, or truncated (header of {header_size} bytes in {size})"
            header = json.loads(handle.read(header_size).decode("utf-8"))
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    except (UnicodeDecodeError, ValueError):
        return "not a safetensors file (its header is not JSON)"
    if not isinstance(header, dict):
        return "not a safetensors file (its header is not a JSON object)"
    data_bytes = size - 8 - header_size
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        try:
            begin, end = tensor["data_offsets"]
            width = DTYPE_BYTES[tensor["dtype"]]
            count = math.prod(int(dim) for dim in tensor["shape"])
        except (KeyError, TypeError, ValueError):
            return f"damaged safetensors header (tensor {name!r})"
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end):
            return f"damaged safetensors header (tensor {name!r})"
        if end > data_bytes:
            return f"truncated: tensor {name!r} ends at byte {end} of {data_bytes} data bytes"
        if end - begin != count * width:
            return f"damaged safetensors header (tensor {name!r} has the wrong length)"
    return None


def _folder_problem(folder: Path, index_name: str) -> str | None:
    index = folder / index_name
    try:
        json.loads(index.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"{index_name} is missing"
    except (OSError, UnicodeDecodeError, ValueError):
        return f"{index_name} is not readable JSON"
    for weights in sorted(folder.rglob("*.safetensors")):
        problem = safetensors_problem(weights)
        if problem is not None:
            return f"{weights.relative_to(folder).as_posix()}: {problem}"
    return None


def model_file_problem(path: Path, *, kind: str, allow_pickle: bool) -> str | None:
    """Why the model at `path` (a checkpoint or VAE file or diffusers folder) cannot be used,
    or None."""
    if path.is_dir():
        return _folder_problem(path, "model_index.json" if kind == "checkpoint" else "config.json")
    if not path.exists():
        return "the file is missing (deleted or moved since the models were scanned; refresh them)"
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        return None if allow_pickle else pickle_refusal(suffix)
    if suffix == ".safetensors":
        return safetensors_problem(path)
    return f"unknown model file type {suffix!r}"


class ModelProblems:
    """`model_file_problem`, remembered per model until its files change (their sizes and
    modification times), so a check made at every request - the default model behind each
    `GET /sdapi/v1/options`, the model of each submitted job - reads no header twice."""

    def __init__(self) -> None:
        self._known: dict[tuple[Path, str, bool], tuple[tuple[Any, ...], str | None]] = {}

    def problem(self, path: Path, *, kind: str, allow_pickle: bool) -> str | None:
        key = (path, kind, allow_pickle)
        signature = _signature(path)
        known = self._known.get(key)
        if known is not None and known[0] == signature:
            return known[1]
        found = model_file_problem(path, kind=kind, allow_pickle=allow_pickle)
        self._known[key] = (signature, found)
        return found


def _signature(path: Path) -> tuple[Any, ...]:
    """(name, size, mtime) of the file, or of every file in the folder; () when it is gone."""
    try:
        files = sorted(item for item in path.rglob("*") if item.is_file()) if path.is_dir() else [path]
        return tuple((str(item), *_size_and_time(item)) for item in files)
    except OSError:
        return ()


def _size_and_time(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_size, status.st_mtime_ns


def check_model_file(
    entry: ModelEntryView,
    *,
    kind: str,
    allow_pickle: bool,
    field_name: str,
    problems: ModelProblems | None = None,
) -> None:
    """RequestError naming `field_name`, the model and the reason when `entry` cannot be used
    (`problems`: remembered checks, when the caller keeps them)."""
    path = Path(entry.path)
    if problems is None:
        problem = model_file_problem(path, kind=kind, allow_pickle=allow_pickle)
    else:
        problem = problems.problem(path, kind=kind, allow_pickle=allow_pickle)
    if problem is not None:
        if path.is_file() and path.suffix.lower() in PICKLE_SUFFIXES:
            from studio.pipeline.model_registry import PickleRefusedError  # the loader's own refusal

            raise PickleRefusedError(field_name, f"{entry.name}: {problem}")
        raise RequestError(field_name, f"{entry.name}: {problem}")


class ModelFileError(RequestError):
    """A model or VAE passed the checks before queueing but did not load (its weights do not fit
    the architecture, a file changed on disk): field `model` or `vae`, naming the file and why."""


@contextlib.contextmanager
def load_errors_named(entry: ModelEntryView, field_name: str) -> Iterator[None]:
    """Turn a failure to load `entry` into a ModelFileError naming it; running out of memory and
    errors that already name a field pass through unchanged."""
    try:
        yield
    except (RequestError, MemoryError):
        raise
    except Exception as error:
        if type(error).__name__ == "OutOfMemoryError":
            raise
        raise ModelFileError(
            field_name, f"{entry.name} could not be loaded ({type(error).__name__}: {error})"
        ) from error
