import hashlib
import zlib

import blake3

from hub.server.hashing import hash_bytes, normalize_hash
from tests.hub.server.conftest import safetensors_bytes


def a1111_model_hash(data: bytes) -> str:
    """A1111's legacy `model_hash` (what Civitai calls AutoV1), written out independently."""
    window = data[0x100000 : 0x100000 + 0x10000]
    return hashlib.sha256(window).hexdigest()[:8]


def test_every_hash_matches_a_reference_and_is_uppercase() -> None:
    data = bytes(range(256)) * 5000  # 1.28 MB: past AutoV1's 1 MiB offset
    hashes = hash_bytes(data)
    assert hashes.sha256 == hashlib.sha256(data).hexdigest().upper()
    assert hashes.autov2 == hashes.sha256[:10]
    assert hashes.autov1 == a1111_model_hash(data).upper()
    assert hashes.crc32 == f"{zlib.crc32(data):08X}"
    assert hashes.blake3 == blake3.blake3(data).hexdigest().upper()
    assert hashes.size == len(data) and hashes.autov3 is None


def test_streaming_in_pieces_gives_the_same_hashes_and_autov3_skips_the_header() -> None:
    from hub.server.hashing import HashingWriter

    data = safetensors_bytes(300_000)
    writer = HashingWriter(safetensors=True)
    for start in range(0, len(data), 7777):
        writer.update(data[start : start + 7777])
    streamed = writer.result()
    assert streamed == hash_bytes(data, safetensors=True)
    header_len = int.from_bytes(data[:8], "little")
    assert streamed.autov3 == hashlib.sha256(data[8 + header_len :]).hexdigest()[:12].upper()
    assert streamed.autov1 == a1111_model_hash(data).upper()


def test_normalize_hash() -> None:
    assert normalize_hash(" abcdef12 ") == "ABCDEF12"
    for bad in ("xyz", "abcdefg", "g" * 64, ""):
        try:
            normalize_hash(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
