import hashlib
import json
import threading
from pathlib import Path

import pytest

from hub.download import (
    DownloadCancelled,
    Downloader,
    DownloadError,
    HashMismatch,
    NotEnoughSpace,
    PickleRefused,
    folder_for_type,
    sidecar_path,
)
from hub.store.catalog import get_model, upsert_models
from hub.sync import CatalogSync, HubClient
from tests.hub.conftest import seed_server


@pytest.fixture
def hub(store, tmp_path, live_server_factory):
    """A mirror synced from a real hub server on loopback; yields (store, client, models_dir)."""
    server = live_server_factory(seed_server(tmp_path / "server", 40))
    client = HubClient(server.url)
    CatalogSync(store, client).run()
    yield store, client, tmp_path / "models"
    client.close()


def versions_where(store, condition: str) -> list[tuple[int, str, int, str]]:
    return store.execute(
        "SELECT v.id, m.type, f.size_kb, f.name FROM versions v JOIN models m ON m.id = v.model_id "
        f"JOIN files f ON f.version_id = v.id AND f.is_primary = 1 WHERE {condition} ORDER BY f.size_kb DESC"
    ).fetchall()


def model_files(models_dir: Path) -> list[Path]:
    return sorted(p for p in models_dir.rglob("*") if p.is_file()) if models_dir.exists() else []


def test_download_lands_in_the_studio_folder_for_its_type_with_a_sidecar(hub, tmp_path):
    store, client, models_dir = hub
    version_id, _kind, _, name = versions_where(store, "f.format = 'SafeTensor' AND m.type = 'LORA'")[0]
    events = []
    downloader = Downloader(store, models_dir, tmp_path / "partial", client.http, on_event=events.append)
    path = downloader.download(version_id).path
    assert path == models_dir / "Lora" / name
    expected = store.scalar("SELECT sha256 FROM files WHERE version_id = ? AND is_primary = 1", [version_id])
    assert hashlib.sha256(path.read_bytes()).hexdigest().upper() == expected
    sidecar = json.loads(sidecar_path(path).read_text())
    assert sidecar["versionId"] == version_id and sidecar["type"] == "LORA"
    assert next(e.kind for e in events) == "started" and events[-1].kind == "done"
    assert store.scalar("SELECT status FROM downloads WHERE version_id = ?", [version_id]) == "done"
    assert list((tmp_path / "partial").iterdir()) == []
    assert {folder_for_type(t) for t in ("Checkpoint", "LoCon", "DoRA", "VAE", "TextualInversion")} == {
        "Stable-diffusion",
        "Lora",
        "VAE",
        "embeddings",
    }
    assert folder_for_type("Poses") == "Other"


def interrupted(store, client, models_dir, partial_dir, version_id) -> Downloader:
    """Start a download and cancel it after its first chunk (the partial file stays)."""
    downloader = Downloader(store, models_dir, partial_dir, client.http, chunk_size=256)

    def stop_after_first_chunk(event):
        if event.kind == "progress" and event.done_bytes > 0:
            downloader.cancel(version_id)

    downloader.on_event = stop_after_first_chunk
    with pytest.raises(DownloadCancelled):
        downloader.download(version_id)
    downloader.on_event = None
    return downloader


def test_an_interrupted_download_resumes_with_range(hub, tmp_path):
    store, client, models_dir = hub
    version_id, _, size_kb, _ = versions_where(store, "f.format = 'SafeTensor'")[0]
    assert size_kb * 1024 > 1024, "the seeded files must span several chunks"
    partial_dir = tmp_path / "partial"
    downloader = interrupted(store, client, models_dir, partial_dir, version_id)
    (partial,) = partial_dir.iterdir()
    have = partial.stat().st_size
    assert 0 < have < size_kb * 1024
    assert model_files(models_dir) == []
    assert store.scalar("SELECT status FROM downloads") == "cancelled"

    events = []
    downloader.on_event = events.append
    downloader._cancels.clear()
    path = downloader.download(version_id).path
    assert events[0].kind == "started" and events[0].done_bytes == have  # resumed, not restarted
    expected = store.scalar("SELECT sha256 FROM files WHERE version_id = ? AND is_primary = 1", [version_id])
    assert hashlib.sha256(path.read_bytes()).hexdigest().upper() == expected
    assert store.scalar("SELECT COUNT(*) FROM downloads") == 1


def test_a_corrupted_byte_fails_the_hash_and_leaves_no_file_in_models(hub, tmp_path):
    store, client, models_dir = hub
    version_id = versions_where(store, "f.format = 'SafeTensor'")[0][0]
    partial_dir = tmp_path / "partial"
    downloader = interrupted(store, client, models_dir, partial_dir, version_id)
    (partial,) = partial_dir.iterdir()
    data = bytearray(partial.read_bytes())
    data[len(data) // 2] ^= 0xFF
    partial.write_bytes(bytes(data))
    downloader._cancels.clear()
    with pytest.raises(HashMismatch, match="does not match"):
        downloader.download(version_id)
    assert model_files(models_dir) == []
    assert list(partial_dir.iterdir()) == []
    assert store.scalar("SELECT status FROM downloads") == "failed"


def test_pickle_files_are_refused_unless_allowed(hub, tmp_path):
    store, client, models_dir = hub
    # Present one file as a pickle checkpoint (the seeded catalog has few; the bytes do not matter
    # for the refusal, which happens before any byte is fetched).
    version_id = versions_where(store, "f.format = 'SafeTensor' AND m.type = 'Checkpoint'")[0][0]
    model = get_model(store.conn, store.scalar("SELECT model_id FROM versions WHERE id = ?", [version_id]))
    version = next(v for v in model["modelVersions"] if v["id"] == version_id)
    file = next(f for f in version["files"] if f.get("primary"))
    file["name"] = "old_style.ckpt"
    file["metadata"]["format"] = "PickleTensor"
    file_id = file["id"]
    with store.transaction() as conn:
        upsert_models(conn, [model])
    with pytest.raises(PickleRefused, match="pickle"):
        Downloader(store, models_dir, tmp_path / "p", client.http).download(version_id, file_id)
    assert model_files(models_dir) == []
    downloader = Downloader(store, models_dir, tmp_path / "p", client.http, allow_pickle=True)
    path = downloader.download(version_id, file_id).path
    assert path.exists()


def test_free_space_is_checked_first(hub, tmp_path):
    store, client, models_dir = hub
    version_id = versions_where(store, "f.format = 'SafeTensor'")[0][0]
    model_id = store.scalar("SELECT model_id FROM versions WHERE id = ?", [version_id])
    model = get_model(store.conn, model_id)
    for version in model["modelVersions"]:
        for file in version["files"]:
            file["sizeKB"] = 2**40  # a petabyte
    with store.transaction() as conn:
        upsert_models(conn, [model])
    with pytest.raises(NotEnoughSpace, match="MiB free"):
        Downloader(store, models_dir, tmp_path / "p", client.http).download(version_id)
    assert model_files(models_dir) == []


def test_concurrency_is_limited_and_unknown_versions_are_clear_errors(hub, tmp_path):
    store, client, models_dir = hub
    ids = [
        row[0]
        for row in versions_where(store, "f.format = 'SafeTensor' AND m.type IN ('LORA', 'Checkpoint')")[:4]
    ]
    active, peak, lock = [0], [0], threading.Lock()

    def track(event):
        with lock:
            if event.kind == "started":
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            elif event.kind in ("done", "failed", "cancelled"):
                active[0] -= 1

    downloader = Downloader(store, models_dir, tmp_path / "p", client.http, max_concurrent=2, on_event=track)
    futures = [downloader.submit(version_id) for version_id in ids]
    paths = [future.result(timeout=60).path for future in futures]
    downloader.close()
    assert all(p.exists() for p in paths) and peak[0] <= 2
    with pytest.raises(DownloadError, match="not in the local mirror"):
        Downloader(store, models_dir, tmp_path / "p", client.http).download(999_999_999)
