"""File hashes the way Civitai reports them: SHA256, AutoV1, AutoV2, AutoV3, CRC32, BLAKE3.

All values are uppercase hex. AutoV2 is the first 10 hex digits of SHA256; AutoV1 is
A1111's legacy `model_hash` (SHA256 of the 64 KiB at offset 1 MiB, first 8 hex digits);
AutoV3 is the first 12 hex digits of the SHA256 of a safetensors file's tensor data (the
bytes after its header), as kohya/A1111's "addnet" hash.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import blake3

AUTOV1_OFFSET = 0x100000
AUTOV1_LENGTH = 0x10000
CHUNK = 1 << 20


@dataclass(frozen=True)
class FileHashes:
    sha256: str
    autov1: str
    autov3: str | None
    crc32: str
    blake3: str
    size: int

    @property
    def autov2(self) -> str:
        return self.sha256[:10]

    def as_civitai(self) -> dict[str, str]:
        """The `hashes` object of a Civitai file entry."""
        hashes = {"AutoV1": self.autov1, "AutoV2": self.autov2, "SHA256": self.sha256}
        hashes["CRC32"] = self.crc32
        hashes["BLAKE3"] = self.blake3
        if self.autov3:
            hashes["AutoV3"] = self.autov3
        return hashes


class HashingWriter:
    """Computes every hash in one pass while bytes stream through `update`."""

    def __init__(self, safetensors: bool = False) -> None:
        self._sha = hashlib.sha256()
        self._blake = blake3.blake3()
        self._crc = 0
        self._autov1 = hashlib.sha256()
        self._size = 0
        self._safetensors = safetensors
        self._data_hash = hashlib.sha256() if safetensors else None
        self._data_start: int | None = None
        self._head = b""

    def update(self, chunk: bytes) -> None:
        start = self._size
        end = start + len(chunk)
        self._sha.update(chunk)
        self._blake.update(chunk)
        self._crc = zlib.crc32(chunk, self._crc)
        lo, hi = max(start, AUTOV1_OFFSET), min(end, AUTOV1_OFFSET + AUTOV1_LENGTH)
        if lo < hi:
            self._autov1.update(chunk[lo - start : hi - start])
        if self._data_hash is not None:
            if self._data_start is None and len(self._head) < 8:
                self._head += chunk[: 8 - len(self._head)]
                if len(self._head) == 8:
                    self._data_start = 8 + struct.unpack("<Q", self._head)[0]
            if self._data_start is not None and end > self._data_start:
                self._data_hash.update(chunk[max(0, self._data_start - start) :])
        self._size = end

    @property
    def size(self) -> int:
        """Bytes seen so far."""
        return self._size

    def result(self) -> FileHashes:
        autov3 = None
        if self._data_hash is not None and self._data_start is not None:
            autov3 = self._data_hash.hexdigest()[:12].upper()
        return FileHashes(
            sha256=self._sha.hexdigest().upper(),
            autov1=self._autov1.hexdigest()[:8].upper(),
            autov3=autov3,
            crc32=f"{self._crc & 0xFFFFFFFF:08X}",
            blake3=self._blake.hexdigest().upper(),
            size=self._size,
        )


def hash_stream(stream: BinaryIO, safetensors: bool = False) -> FileHashes:
    writer = HashingWriter(safetensors=safetensors)
    while chunk := stream.read(CHUNK):
        writer.update(chunk)
    return writer.result()


def hash_bytes(data: bytes, safetensors: bool = False) -> FileHashes:
    writer = HashingWriter(safetensors=safetensors)
    writer.update(data)
    return writer.result()


def hash_file(path: Path, safetensors: bool = False) -> FileHashes:
    with path.open("rb") as stream:
        return hash_stream(stream, safetensors=safetensors)


HASH_LENGTHS = {8: ("CRC32", "AutoV1"), 10: ("AutoV2",), 12: ("AutoV3",), 64: ("SHA256", "BLAKE3")}


def normalize_hash(value: str) -> str:
    """Uppercase a hash given by a client; raise ValueError when it cannot be one of ours."""
    text = value.strip()
    if len(text) not in HASH_LENGTHS:
        raise ValueError(
            "hash must be 8 (CRC32/AutoV1), 10 (AutoV2), 12 (AutoV3) or 64 (SHA256/BLAKE3) hex digits"
        )
    try:
        int(text, 16)
    except ValueError:
        raise ValueError("hash must be hexadecimal") from None
    return text.upper()
