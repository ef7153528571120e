import json

from hub.cli import EXIT_UNAVAILABLE, main
from tests.hub.conftest import free_port, seed_server


def test_the_cli_end_to_end_against_a_real_server(tmp_path, live_server_factory, capsys):
    server = live_server_factory(seed_server(tmp_path / "server", 30))
    data = ["--data-dir", str(tmp_path / "studio")]

    assert main(["sync", "--server", server.url, *data]) == 0
    out = capsys.readouterr().out
    assert "synced" in out and server.url in out
    assert (tmp_path / "studio" / "hub-data" / "hub.db").exists()
    assert main(["sync", *data]) == 0  # the server URL is remembered
    assert "synced 0 changes" in capsys.readouterr().out

    assert main(["search", "", "--type", "LORA", "--sort", "downloads", "--json", *data]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["total"] > 0 and all(item["type"] == "LORA" for item in found["items"])
    model_id = found["items"][0]["id"]
    word = found["items"][0]["name"].split()[0]
    assert main(["search", word[:3], "--prefix", "--limit", "50", "--json", *data]) == 0
    assert model_id in [i["id"] for i in json.loads(capsys.readouterr().out)["items"]]

    assert main(["show", str(model_id), *data]) == 0
    shown = capsys.readouterr().out
    assert "version" in shown and "SHA256" in shown and "preview:" in shown

    from hub.store import HubDatabase

    with HubDatabase(tmp_path / "studio" / "hub-data" / "hub.db") as store:
        version_id = store.scalar(
            "SELECT version_id FROM files f JOIN versions v ON v.id = f.version_id "
            "WHERE v.model_id = ? AND f.is_primary = 1",
            [model_id],
        )
    assert main(["download", str(version_id), *data]) == 0
    captured = capsys.readouterr()
    assert "saved" in captured.out and "100.0%" in captured.err
    assert list((tmp_path / "studio" / "models" / "Lora").glob("*.safetensors"))

    assert main(["scan", *data]) == 0
    assert "1 linked to the catalog" in capsys.readouterr().out
    assert main(["reindex", *data]) == 0
    assert "reindexed 30 documents" in capsys.readouterr().out
    assert main(["jobs", *data]) == 0
    jobs = capsys.readouterr().out
    assert "done: 3" in jobs and "sync" in jobs and "download" in jobs


def test_the_cli_says_clearly_when_the_server_is_down(tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    code = main(["sync", "--server", url, "--retries", "1", "--data-dir", str(tmp_path)])
    assert code == EXIT_UNAVAILABLE
    err = capsys.readouterr().err
    assert "unreachable" in err and "job" in err
    assert main(["jobs", "--data-dir", str(tmp_path)]) == 0
    assert "pending: 1" in capsys.readouterr().out
    assert main(["show", "1", "--data-dir", str(tmp_path)]) == 1
    assert main(["download", "5", "--data-dir", str(tmp_path)]) == 2  # retrying cannot help
    assert "not in the local mirror" in capsys.readouterr().err
    assert main(["jobs", "--status", "failed", "--data-dir", str(tmp_path)]) == 0
    assert "download   failed" in capsys.readouterr().out
