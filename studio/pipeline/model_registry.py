"""Model registry over the A1111 / SD.Next models layout.

    models/Stable-diffusion/  single-file checkpoints (.safetensors; pickle files listed, refused)
    models/Diffusers/         diffusers folders (model_index.json)
    models/VAE/               .safetensors files or diffusers AutoencoderKL folders (config.json)
    models/Lora/              .safetensors
    models/embeddings/        .safetensors / .pt / .bin

Both `config.models_path` and `config.builtin_models_path` (the shipped starter) are scanned,
deduplicated by resolved path. Each entry's title is A1111's `name [hash10]`, hash10 being the
first 10 hex digits of the SHA-256 of the file (for a folder: of its files, in path order).
Hashes are cached in the studio database by path + size + mtime, so rescanning unchanged
models reads no model bytes. LoRA `.safetensors` files also get the hash A1111 writes in
`Lora hashes` (kohya's "addnet" hash: SHA-256 of the file after its header), in the same read.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from studio.config import StudioConfig
from studio.database import ensure_migrated, transaction
from studio.request import RequestError
from studio.sidecars import Sidecar, read_sidecars

SAFE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
KINDS = ("checkpoint", "vae", "lora", "embedding")
FOLDERS = {"vae": "VAE", "lora": "Lora", "embedding": "embeddings"}
CHUNK = 1 << 20


class PickleRefusedError(RequestError):
    """A pickle checkpoint (.ckpt/.pt/.bin) was asked for and `allow_pickle` is off."""


@dataclass(frozen=True)
class ModelEntry:
    kind: str  # checkpoint | vae | lora | embedding
    name: str  # path relative to its category folder, with extension for files (A1111)
    path: Path
    sha256: str
    format: str  # "diffusers" | "safetensors" | "pickle"
    addnet_sha256: str | None = None  # LoRA safetensors: SHA-256 of the data after the header
    # what the files beside it say (preview, trigger words, preferred weight), read on refresh
    sidecar: Sidecar = field(default_factory=Sidecar, compare=False)

    @property
    def hash10(self) -> str:
        return self.sha256[:10]

    @property
    def title(self) -> str:
        return f"{self.name} [{self.hash10}]"

    @property
    def model_name(self) -> str:
        """The name without extension, as A1111 writes it in `Model:` of the infotext."""
        return (
            self.name[: -len(self.path.suffix)]
            if self.format != "diffusers" and self.path.suffix
            else self.name
        )

    @property
    def a1111_model_name(self) -> str:
        """A1111's `model_name` (sd-models): the name without extension, folders joined by "_"."""
        return self.model_name.replace("/", "_")

    @property
    def short_name(self) -> str:
        """The bare file name without extension: how A1111 names LoRAs and embeddings
        (`<lora:short_name:1>`) and what it writes as a checkpoint's `Model:`."""
        return self.model_name.rsplit("/", 1)[-1]

    @property
    def is_pickle(self) -> bool:
        return self.format == "pickle"

    def match_strength(self, wanted: str) -> int:
        """2: `wanted` is this entry's title, name, name without extension or hash; 1: one of
        A1111's other names for it (a1111_model_name, short_name, "short_name [hash10]"),
        which two entries in different folders may share; 0: no match."""
        wanted = wanted.strip()
        if wanted in (self.title, self.name, self.model_name, self.hash10, self.sha256) or (
            len(wanted) >= 8 and self.sha256.startswith(wanted.lower())
        ):
            return 2
        if wanted in (self.a1111_model_name, self.short_name, f"{self.short_name} [{self.hash10}]"):
            return 1
        return 0

    def matches(self, wanted: str) -> bool:
        return self.match_strength(wanted) > 0


@dataclass
class ScanStats:
    files_hashed: int = 0
    bytes_hashed: int = 0
    cache_hits: int = 0


@dataclass
class _Scan:
    entries: dict[str, list[ModelEntry]] = field(default_factory=lambda: {kind: [] for kind in KINDS})


class ModelRegistry:
    def __init__(self, config: StudioConfig) -> None:
        self.config = config
        self.db_path = config.database_path
        self.stats = ScanStats()
        self._scan: _Scan | None = None
        ensure_migrated(self.db_path)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.db_path)

    # -- roots and scanning -------------------------------------------------------------------
    def roots(self) -> list[Path]:
        seen: list[Path] = []
        for root in (self.config.models_path, self.config.builtin_models_path):
            resolved = Path(root).resolve()
            if resolved not in seen:
                seen.append(resolved)
        return seen

    def refresh(self) -> None:
        scan = _Scan()
        seen_paths: set[Path] = set()
        for root in self.roots():
            for kind, path, fmt, name in self._candidates(root):
                resolved = path.resolve()
                if resolved in seen_paths:
                    continue
                seen_paths.add(resolved)
                addnet = kind == "lora" and fmt == "safetensors"
                sha, addnet_sha = self._hashes(resolved, addnet)
                scan.entries[kind].append(
                    ModelEntry(kind, name, resolved, sha, fmt, addnet_sha, read_sidecars(path))
                )
        for entries in scan.entries.values():
            entries.sort(key=lambda entry: entry.name.lower())
        self._scan = scan

    def _candidates(self, root: Path) -> Iterator[tuple[str, Path, str, str]]:
        checkpoints = root / "Stable-diffusion"
        for path in _files(checkpoints, SAFE_SUFFIXES + PICKLE_SUFFIXES):
            yield "checkpoint", path, _file_format(path), path.relative_to(checkpoints).as_posix()
        diffusers = root / "Diffusers"
        if diffusers.is_dir():
            for index in sorted(diffusers.rglob("model_index.json")):
                folder = index.parent
                yield "checkpoint", folder, "diffusers", folder.relative_to(diffusers).as_posix()
        for kind, folder_name in FOLDERS.items():
            base = root / folder_name
            for path in _files(base, SAFE_SUFFIXES + PICKLE_SUFFIXES):
                if kind == "vae" and path.parent != base and (path.parent / "config.json").exists():
                    continue  # a weight file inside a diffusers VAE folder
                yield kind, path, _file_format(path), path.relative_to(base).as_posix()
            if kind == "vae" and base.is_dir():
                for config in sorted(base.rglob("config.json")):
                    yield "vae", config.parent, "diffusers", config.parent.relative_to(base).as_posix()

    # -- hashing ------------------------------------------------------------------------------
    def _hashes(self, path: Path, addnet: bool = False) -> tuple[str, str | None]:
        """The SHA-256 of `path` (a file, or a folder's files) and, when `addnet`, the SHA-256
        of the file's data after its safetensors header (None when it has no valid header)."""
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        stats = [f.stat() for f in files]
        size = sum(s.st_size for s in stats)
        mtime_ns = max((s.st_mtime_ns for s in stats), default=0)
        key = str(path)
        with self._connect() as db:
            row = db.execute(
                "SELECT size, mtime_ns, sha256, addnet_sha256 FROM model_hashes WHERE path = ?", (key,)
            ).fetchone()
        if row is not None and row[0] == size and row[1] == mtime_ns and (not addnet or row[3] is not None):
            self.stats.cache_hits += 1
            return row[2], (row[3] or None) if addnet else None
        digest = hashlib.sha256()
        data_digest = hashlib.sha256() if addnet else None
        data_offset = _safetensors_data_offset(path, size) if addnet else None
        for file in files:
            if len(files) > 1:
                digest.update(file.relative_to(path).as_posix().encode() + b"\0")
            position = 0
            with file.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
                    if (
                        data_digest is not None
                        and data_offset is not None
                        and position + len(chunk) > data_offset
                    ):
                        data_digest.update(chunk[max(0, data_offset - position) :])
                    position += len(chunk)
            self.stats.files_hashed += 1
            self.stats.bytes_hashed += file.stat().st_size
        sha = digest.hexdigest()
        # "" marks "hashed, but not a safetensors file" so it is not read again
        addnet_sha = (
            None if data_digest is None else (data_digest.hexdigest() if data_offset is not None else "")
        )
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO model_hashes (path, size, mtime_ns, sha256, addnet_sha256) "
                "VALUES (?, ?, ?, ?, ?)",
                (key, size, mtime_ns, sha, addnet_sha),
            )
        return sha, addnet_sha or None

    # -- queries ------------------------------------------------------------------------------
    def entries(self, kind: str) -> list[ModelEntry]:
        if self._scan is None:
            self.refresh()
        assert self._scan is not None
        return list(self._scan.entries[kind])

    def checkpoints(self) -> list[ModelEntry]:
        return self.entries("checkpoint")

    def vaes(self) -> list[ModelEntry]:
        return self.entries("vae")

    def loras(self) -> list[ModelEntry]:
        return self.entries("lora")

    def embeddings(self) -> list[ModelEntry]:
        return self.entries("embedding")

    def find(self, kind: str, wanted: str, field_name: str = "model") -> ModelEntry:
        """The entry matching a title, name, name without extension, hash10 or sha256, or one of
        A1111's names for it (see `ModelEntry.match_strength`).

        Raises RequestError naming `field_name` and the valid titles when nothing matches.
        """
        candidates = self.entries(kind)
        entry = best_match(candidates, wanted)
        if entry is not None:
            return entry
        titles = ", ".join(entry.title for entry in candidates) or "(none found)"
        raise RequestError(field_name, f"unknown {kind} {wanted!r}; choose one of: {titles}")

    def titles(self, kind: str = "checkpoint") -> list[str]:
        return [entry.title for entry in self.entries(kind)]

    # -- small persistent state (last selected model) -----------------------------------------
    def get_state(self, key: str) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT value FROM studio_state WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_state(self, key: str, value: str | None) -> None:
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO studio_state (key, value) VALUES (?, ?)", (key, value))


def best_match(entries: Iterable[ModelEntry], wanted: str) -> ModelEntry | None:
    """The first entry `wanted` names exactly (title, name, hash), else the first it names the
    A1111 way (folders joined by "_", or the bare file name); None when none does."""
    weak: ModelEntry | None = None
    for entry in entries:
        strength = entry.match_strength(wanted)
        if strength == 2:
            return entry
        if strength == 1 and weak is None:
            weak = entry
    return weak


def _files(folder: Path, suffixes: Iterable[str]) -> list[Path]:
    if not folder.is_dir():
        return []
    wanted = tuple(suffixes)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in wanted)


def _safetensors_data_offset(path: Path, size: int) -> int | None:
    """Where a safetensors file's tensor data starts (8 + header length), or None when the
    file does not start with a plausible safetensors header."""
    with path.open("rb") as handle:
        prefix = handle.read(9)
    if len(prefix) < 9 or prefix[8:9] != b"{":
        return None
    offset = 8 + int.from_bytes(prefix[:8], "little")
    return offset if offset <= size else None


def _file_format(path: Path) -> str:
    return "safetensors" if path.suffix.lower() in SAFE_SUFFIXES else "pickle"


def refuse_pickle(entry: ModelEntry, allow_pickle: bool) -> None:
    if entry.is_pickle and not allow_pickle:
        raise PickleRefusedError(
            "vae" if entry.kind == "vae" else "model",
            f"{entry.name}: refusing to load a pickle file ({entry.path.suffix}): unpickling can run "
            "arbitrary code. Convert it to .safetensors, or start with --allow-pickle (allow_pickle) "
            "if you trust where it came from.",
        )


SD_NATIVE_SIZE = 512


def native_size(entry: ModelEntry) -> int:
    """The resolution a checkpoint was trained at: UNet sample size times the VAE's downscale,
    read from a diffusers folder's configs (no weights loaded); 512 (SD 1.x) for single files."""
    import json

    if entry.format != "diffusers":
        return SD_NATIVE_SIZE
    try:
        unet = json.loads((entry.path / "unet" / "config.json").read_text(encoding="utf-8"))
        vae = json.loads((entry.path / "vae" / "config.json").read_text(encoding="utf-8"))
        sample_size = unet["sample_size"]
        factor = 2 ** (len(vae["block_out_channels"]) - 1)
    except (OSError, ValueError, KeyError, TypeError):
        return SD_NATIVE_SIZE
    size = (sample_size[0] if isinstance(sample_size, list) else int(sample_size)) * factor
    return max(64, min(4096, size - size % 8))
