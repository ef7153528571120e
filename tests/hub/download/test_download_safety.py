"""Issue #20, defects 10 and 13: downloads never overwrite a file they did not write, sidecars
never take a downloaded file's name, dangerous files are refused, unverified files are flagged."""

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.download import DangerousFileRefused, Downloader, PickleRefused, sidecar_path
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


def lora_versions(store) -> list[tuple[int, str, str]]:
    """(version id, primary file name, its SHA256) of the seeded LORA versions."""
    return store.execute(
        "SELECT v.id, f.name, f.sha256 FROM versions v JOIN models m ON m.id = v.model_id "
        "JOIN files f ON f.version_id = v.id AND f.is_primary = 1 "
        "WHERE m.type = 'LORA' AND f.format = 'SafeTensor' ORDER BY v.id"
    ).fetchall()


def edit_primary_file(store, version_id: int, edit: Callable[[dict], None]) -> None:
    """Change a version's primary file in the local mirror (as if the server had sent it so)."""
    model = get_model(store.conn, store.scalar("SELECT model_id FROM versions WHERE id = ?", [version_id]))
    version = next(v for v in model["modelVersions"] if v["id"] == version_id)
    edit(next(f for f in version["files"] if f.get("primary")))
    with store.transaction() as conn:
        upsert_models(conn, [model])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest().upper()


def test_a_local_file_of_the_same_name_is_kept_and_the_download_gets_a_number(hub, tmp_path):
    store, client, models_dir = hub
    version_id, name, expected = lora_versions(store)[0]
    mine = models_dir / "Lora" / name
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"my own model, not from the hub")
    a1111_metadata = mine.with_suffix(".json")  # A1111 keeps its user metadata here
    a1111_metadata.write_text('{"activation text": "mine"}')
    events = []
    downloader = Downloader(store, models_dir, tmp_path / "partial", client.http, on_event=events.append)

    result = downloader.download(version_id)
    assert result.path == mine.with_name(f"{mine.stem} (1){mine.suffix}")
    assert sha256(result.path) == expected and result.verified
    assert mine.read_bytes() == b"my own model, not from the hub"
    assert a1111_metadata.read_text() == '{"activation text": "mine"}'
    assert json.loads(sidecar_path(result.path).read_text())["versionId"] == version_id
    assert any("kept it" in warning for warning in result.warnings)
    assert store.scalar("SELECT destination FROM downloads") == str(result.path)

    events.clear()
    again = downloader.download(version_id)  # the same file is already there: done, not fetched
    assert again.path == result.path and not [e for e in events if e.kind == "progress"]
    assert sorted(p.name for p in mine.parent.iterdir()) == sorted(
        [mine.name, a1111_metadata.name, result.path.name, sidecar_path(result.path).name]
    )


def test_a_hub_file_named_like_a_sidecar_keeps_its_bytes(hub, tmp_path):
    store, client, models_dir = hub
    (first, _, first_sha), (second, _, second_sha) = lora_versions(store)[:2]
    edit_primary_file(store, first, lambda f: f.update(name="notes.json"))
    edit_primary_file(store, second, lambda f: f.update(name="notes.safetensors"))
    downloader = Downloader(store, models_dir, tmp_path / "partial", client.http)

    notes_json = downloader.download(first).path
    notes_model = downloader.download(second).path
    assert notes_json == models_dir / "Lora" / "notes.json"
    assert notes_model == models_dir / "Lora" / "notes.safetensors"
    assert sha256(notes_json) == first_sha and sha256(notes_model) == second_sha
    sidecars = {sidecar_path(notes_json), sidecar_path(notes_model)}
    assert not sidecars & {notes_json, notes_model}
    assert all(json.loads(p.read_text())["modelId"] for p in sidecars)


def test_a_file_without_a_hash_is_installed_unverified_and_says_so(hub, tmp_path):
    store, client, models_dir = hub
    version_id = lora_versions(store)[0][0]
    edit_primary_file(store, version_id, lambda f: f.pop("hashes"))
    downloader = Downloader(store, models_dir, tmp_path / "partial", client.http)

    result = downloader.download(version_id)
    assert result.path.exists() and result.verified is False
    assert any("UNVERIFIED" in warning for warning in result.warnings)
    assert store.execute("SELECT verified, warnings LIKE '%UNVERIFIED%' FROM downloads").fetchone() == (0, 1)
    assert json.loads(sidecar_path(result.path).read_text())["sha256Verified"] is False
    assert downloader.download(version_id).path == result.path  # same bytes: no numbered copy


def test_a_file_the_server_scanned_as_dangerous_needs_a_second_flag(hub, tmp_path):
    store, client, models_dir = hub
    version_id = lora_versions(store)[0][0]

    def dangerous_pickle(file: dict) -> None:
        file["name"] = "payload.ckpt"
        file["metadata"]["format"] = "PickleTensor"
        file["pickleScanResult"] = "Danger"
        file["pickleScanMessage"] = "Dangerous imports: os.system"

    edit_primary_file(store, version_id, dangerous_pickle)
    with pytest.raises(PickleRefused):
        Downloader(store, models_dir, tmp_path / "p", client.http).download(version_id)
    with pytest.raises(
        DangerousFileRefused, match=r"DANGEROUS \(pickle scan: Dangerous imports: os.system\)"
    ):
        Downloader(store, models_dir, tmp_path / "p", client.http, allow_pickle=True).download(version_id)
    assert not models_dir.exists()

    allowed = Downloader(
        store, models_dir, tmp_path / "p", client.http, allow_pickle=True, allow_dangerous=True
    )
    result = allowed.download(version_id)
    assert result.path.exists()
    assert any("DANGEROUS" in warning for warning in result.warnings)
    assert "DANGEROUS" in store.scalar("SELECT warnings FROM downloads WHERE status = 'done'")


def test_a_virus_scan_danger_is_refused_for_safetensors_too(hub, tmp_path):
    store, client, models_dir = hub
    version_id = lora_versions(store)[0][0]
    edit_primary_file(store, version_id, lambda f: f.update(virusScanResult="Danger"))
    with pytest.raises(DangerousFileRefused, match="virus scan"):
        Downloader(store, models_dir, tmp_path / "p", client.http, allow_pickle=True).download(version_id)
    assert not models_dir.exists()
