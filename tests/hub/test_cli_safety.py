"""Issue #20, defects 10 and 13 through `hub download`, and the data folder the help names."""

import re
from pathlib import Path

import pytest

import hub.cli
import hub.download.downloader
from hub.cli import build_parser, main
from hub.paths import HubPaths
from hub.store import HubDatabase
from hub.store.catalog import get_model, upsert_models
from tests.hub.conftest import seed_server

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def synced(tmp_path, live_server_factory):
    """A studio data dir whose hub mirrors a real server; yields (data args, hub.db path, models dir)."""
    server = live_server_factory(seed_server(tmp_path / "server", 30))
    data = ["--data-dir", str(tmp_path / "studio")]
    assert main(["sync", "--server", server.url, "--no-previews", *data]) == 0
    return data, tmp_path / "studio" / "hub-data" / "hub.db", tmp_path / "studio" / "models"


def lora_version(db_path: Path, edit=None) -> tuple[int, str]:
    """The first seeded LORA version (its primary file changed by `edit`); (version id, file name)."""
    with HubDatabase(db_path) as store:
        version_id = store.scalar(
            "SELECT v.id FROM versions v JOIN models m ON m.id = v.model_id JOIN files f "
            "ON f.version_id = v.id AND f.is_primary = 1 WHERE m.type = 'LORA' ORDER BY v.id LIMIT 1"
        )
        model = get_model(
            store.conn, store.scalar("SELECT model_id FROM versions WHERE id = ?", [version_id])
        )
        file = next(
            f for v in model["modelVersions"] if v["id"] == version_id for f in v["files"] if f.get("primary")
        )
        if edit:
            edit(file)
            with store.transaction() as conn:
                upsert_models(conn, [model])
        return version_id, file["name"]


def test_hub_download_keeps_a_local_file_of_the_same_name_and_its_json(synced, capsys):
    data, db_path, models = synced
    version_id, name = lora_version(db_path)
    mine = models / "Lora" / name
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"not from the hub")
    metadata = mine.with_suffix(".json")
    metadata.write_text('{"activation text": "mine"}')
    capsys.readouterr()
    assert main(["download", str(version_id), *data]) == 0
    out, err = capsys.readouterr()
    assert mine.read_bytes() == b"not from the hub"
    assert metadata.read_text() == '{"activation text": "mine"}'
    assert f"saved {mine.with_name(f'{mine.stem} (1){mine.suffix}')}" in out
    assert "WARNING" in err and "kept it" in err


def test_hub_download_warns_when_a_file_has_no_hash(synced, capsys):
    data, db_path, _ = synced
    version_id, _ = lora_version(db_path, lambda file: file.pop("hashes"))
    capsys.readouterr()
    assert main(["download", str(version_id), *data]) == 0
    out, err = capsys.readouterr()
    assert "(UNVERIFIED)" in out and re.search(r"WARNING: .*no SHA256.*UNVERIFIED", err)


def test_hub_download_refuses_a_file_scanned_dangerous_even_with_allow_pickle(synced, capsys):
    data, db_path, models = synced

    def dangerous(file: dict) -> None:
        file.update(
            name="payload.ckpt", pickleScanResult="Danger", pickleScanMessage="Dangerous imports: os.system"
        )
        file["metadata"]["format"] = "PickleTensor"

    version_id, _ = lora_version(db_path, dangerous)
    capsys.readouterr()
    assert main(["download", str(version_id), "--allow-pickle", *data]) == 2
    err = capsys.readouterr().err
    assert "DANGEROUS" in err and "--allow-dangerous" in err
    assert not list(models.rglob("payload*"))
    assert main(["download", str(version_id), "--allow-pickle", "--allow-dangerous", *data]) == 0
    assert re.search(r"WARNING: payload.ckpt: DANGEROUS", capsys.readouterr().err)
    assert (models / "Lora" / "payload.ckpt").exists()


def test_the_help_and_docs_name_the_data_folder_the_code_uses(monkeypatch, capsys):
    folder = HubPaths.for_data_dir(Path("data")).hub_dir.name
    monkeypatch.setenv("COLUMNS", "300")  # no line breaks inside the help text
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sync", "--help"])
    assert f"<data-dir>/{folder})" in capsys.readouterr().out
    assert f"<data-dir>/{folder}" in " ".join(hub.cli.__doc__.split())
    assert f"<data-dir>/{folder}/downloads/" in hub.download.downloader.__doc__
    docs = (REPO / "docs" / "hub.md").read_text()
    assert f"`DIR/{folder}/`" in docs and "`DIR/hub/`" not in docs
