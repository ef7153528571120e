import hashlib

from hub.download import Downloader
from hub.localfiles import list_local_models, scan_models
from hub.sync import CatalogSync, HubClient
from tests.hub.conftest import seed_server


def test_scan_hashes_once_links_known_files_and_forgets_removed_ones(store, tmp_path, live_server_factory):
    server = live_server_factory(seed_server(tmp_path / "server", 12))
    models_dir = tmp_path / "models"
    with HubClient(server.url) as client:
        CatalogSync(store, client).run()
        version_id = store.scalar(
            "SELECT v.id FROM versions v JOIN models m ON m.id = v.model_id JOIN files f ON f.version_id = v.id "
            "WHERE m.type = 'LORA' AND f.is_primary = 1 AND f.format = 'SafeTensor' LIMIT 1"
        )
        downloaded = (
            Downloader(store, models_dir, tmp_path / "partial", client.http).download(version_id).path
        )
    stranger = models_dir / "Stable-diffusion" / "mine.safetensors"
    stranger.parent.mkdir(parents=True)
    stranger.write_bytes(b"not in any catalog")
    (models_dir / "Lora" / "notes.txt").write_text("ignored")

    report = scan_models(store, models_dir)
    assert (report.files, report.hashed, report.cached, report.linked) == (2, 2, 0, 1)
    local = {m.path: m for m in list_local_models(store)}
    linked = local[str(downloaded)]
    assert linked.version_id == version_id and linked.model_type == "LORA" and linked.model_name
    assert linked.previews
    assert local[str(stranger)].model_id is None
    assert local[str(stranger)].sha256 == hashlib.sha256(b"not in any catalog").hexdigest().upper()

    again = scan_models(store, models_dir)
    assert (again.hashed, again.cached) == (0, 2)  # cached by path + size + mtime
    stranger.write_bytes(b"changed")
    assert scan_models(store, models_dir).hashed == 1
    stranger.unlink()
    assert scan_models(store, models_dir).removed == 1
    assert [m.path for m in list_local_models(store)] == [str(downloaded)]


def test_unknown_hashes_are_looked_up_on_the_server_in_one_batch(tmp_path, live_server_factory):
    from hub.store import HubDatabase

    server = live_server_factory(seed_server(tmp_path / "server", 12))
    models_dir = tmp_path / "models"
    with HubDatabase(tmp_path / "first.db") as first, HubClient(server.url) as client:
        CatalogSync(first, client).run()
        versions = [
            row[0]
            for row in first.conn.execute(
                "SELECT DISTINCT version_id FROM files WHERE format = 'SafeTensor' AND is_primary = 1 "
                "ORDER BY version_id LIMIT 3"
            )
        ]
        paths = {
            str(Downloader(first, models_dir, tmp_path / "partial", client.http).download(v).path)
            for v in versions
        }
        (models_dir / "Lora").mkdir(exist_ok=True)
        (models_dir / "Lora" / "mine.safetensors").write_bytes(b"not in any catalog")
        sent: list[str] = []
        client.http.event_hooks["request"].append(lambda r: sent.append(f"{r.method} {r.url.path}"))

        with HubDatabase(tmp_path / "empty.db") as empty:  # a mirror that never synced
            report = scan_models(empty, models_dir, client.models_by_sha256)
            assert (report.files, report.linked, report.found_online) == (4, 3, 3)
            # one by-hash question for the four hashes, one models request for their models
            assert sent == ["POST /api/v1/model-versions/by-hash", "GET /api/v1/models"]
            local = {m.path: m for m in list_local_models(empty)}
            assert {p for p, m in local.items() if m.model_name} == paths
