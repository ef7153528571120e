import json
import zipfile

import pytest
from PIL import Image

from studio.config import PROJECT_ROOT
from studio.request import GenerationRequest
from studio.scripts.extensions import ExtensionError, ExtensionManager
from studio.scripts.manager import ScriptManager
from studio.scripts.params import ScriptArgsError
from tests.studio.scripts.conftest import git, write_extension, zip_folder


def prompt_after(manager: ExtensionManager, name: str) -> str:
    return manager.scripts.before_process(GenerationRequest(prompt="cat", scripts={name: {}})).prompt


def test_zip_install_enable_run_disable_remove(tmp_path, extension_manager):
    source = write_extension(tmp_path / "src", "zipped", "zebra")
    archive = zip_folder(source, tmp_path / "zipped-main.zip", top="zipped-main")

    info = extension_manager.install(str(archive))
    assert (info.status, info.version, info.scripts) == ("loaded", "1.0", ["zipped"])
    assert info.load_ms is not None
    assert prompt_after(extension_manager, "zipped") == "cat zebra"

    assert extension_manager.disable("zipped").status == "disabled"
    with pytest.raises(ScriptArgsError, match="no such script"):
        prompt_after(extension_manager, "zipped")
    # the state survives a restart: a new manager does not load it
    again = ExtensionManager(extension_manager.install_dir, extension_manager.state_path, ScriptManager())
    assert {i.name: i.status for i in again.load_all()} == {"zipped": "disabled"}

    assert extension_manager.enable("zipped").status == "loaded"
    assert prompt_after(extension_manager, "zipped") == "cat zebra"
    extension_manager.uninstall("zipped")
    assert extension_manager.list() == []
    assert json.loads(extension_manager.state_path.read_text()) == {"extensions": {}}
    assert extension_manager.scripts.names() == []


def test_git_install_from_a_local_repo_then_update(tmp_path, extension_manager):
    repo = write_extension(tmp_path / "repo", "gitext", "one")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first")

    info = extension_manager.install(str(repo))
    assert info.status == "loaded" and info.source.startswith("git:") and info.commit
    assert prompt_after(extension_manager, "gitext") == "cat one"

    write_extension(repo, "gitext", "two")
    git(repo, "commit", "-qam", "second")
    updated = extension_manager.update("gitext")
    assert updated.commit != info.commit
    assert prompt_after(extension_manager, "gitext") == "cat two"  # reloaded, fresh code

    extension_manager.uninstall("gitext")
    assert not (extension_manager.install_dir / "gitext").exists()


def test_zip_entries_escaping_the_folder_are_refused(tmp_path, extension_manager):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("extension.toml", 'name = "evil"\n')
        bundle.writestr("../../escaped.py", "print('owned')\n")
    with pytest.raises(ExtensionError, match="escapes the extension folder"):
        extension_manager.install(str(archive))
    assert not (tmp_path / "escaped.py").exists()
    assert extension_manager.list() == []
    assert [p.name for p in extension_manager.install_dir.iterdir()] == []  # staging cleaned


def test_installing_twice_and_bad_sources_are_clear_errors(tmp_path, extension_manager):
    source = write_extension(tmp_path / "src", "twice", "x")
    extension_manager.install(str(source))
    with pytest.raises(ExtensionError, match="already installed") as caught:
        extension_manager.install(str(source))
    assert caught.value.status == 409
    with pytest.raises(ExtensionError, match="not a folder"):
        extension_manager.install(str(tmp_path / "missing"))
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(ExtensionError, match="not a zip"):
        extension_manager.install(str(tmp_path / "junk.zip"))
    with pytest.raises(ExtensionError, match="not installed from git"):
        extension_manager.update("twice")


def test_a_broken_extension_is_listed_and_the_rest_load(tmp_path, extension_manager):
    root = extension_manager.install_dir
    write_extension(root / "good", "good", "fine")
    (root / "crashes" / "scripts").mkdir(parents=True)
    (root / "crashes" / "extension.toml").write_text('name = "crashes"\n')
    (root / "crashes" / "scripts" / "main.py").write_text("raise ImportError('needs a missing package')\n")
    (root / "badtoml").mkdir()
    (root / "badtoml" / "extension.toml").write_text("name = [unclosed")
    write_extension(root / "needy", "needy", "x", 'requires = ["absent"]\n')

    status = {info.name: (info.status, info.error) for info in extension_manager.load_all()}
    assert status["good"] == ("loaded", None)
    assert status["crashes"][0] == "error" and "needs a missing package" in status["crashes"][1]
    assert status["badtoml"][0] == "error" and "not valid TOML" in status["badtoml"][1]
    assert status["needy"][0] == "error" and "requires absent" in status["needy"][1]
    assert prompt_after(extension_manager, "good") == "cat fine"


def test_load_order_follows_requires_and_load_before(tmp_path, extension_manager):
    root = extension_manager.install_dir
    write_extension(root / "a-first", "a-first", "A", 'load_after = ["c-base"]\n')
    write_extension(root / "b-second", "b-second", "B", 'requires = ["a-first"]\n')
    write_extension(root / "c-base", "c-base", "C", 'load_before = ["b-second"]\n')
    extension_manager.load_all()
    assert extension_manager.scripts.names() == ["c-base", "a-first", "b-second"]
    request = GenerationRequest(prompt="p", scripts={"b-second": {}, "a-first": {}, "c-base": {}})
    assert extension_manager.scripts.before_process(request).prompt == "p C A B"


def test_a_cycle_is_reported_not_fatal(tmp_path, extension_manager):
    root = extension_manager.install_dir
    write_extension(root / "x", "x", "x", 'load_after = ["y"]\n')
    write_extension(root / "y", "y", "y", 'load_after = ["x"]\n')
    write_extension(root / "z", "z", "z")
    status = {info.name: info.status for info in extension_manager.load_all()}
    assert status == {"x": "error", "y": "error", "z": "loaded"}


def test_the_shipped_caption_stamp_extension_uses_its_hooks(tmp_path):
    manager = ExtensionManager(
        tmp_path / "ext", tmp_path / "state.json", ScriptManager(), [PROJECT_ROOT / "extensions"]
    )
    infos = {info.name: info for info in manager.load_all()}
    assert infos["caption-stamp"].status == "loaded" and infos["caption-stamp"].shipped
    scripts = manager.scripts
    request = GenerationRequest(
        prompt="cat", scripts={"caption stamp": {"text": "draft", "prompt_prefix": "photo of"}}
    )
    request = scripts.before_process(request)
    assert request.prompt == "photo of cat"
    plain = Image.new("RGB", (128, 128), (0, 128, 0))
    stamped, infotext = scripts.postprocess_image(request, plain, "cat")
    assert infotext == "cat, Caption stamp: draft"
    assert stamped.size == plain.size and stamped.tobytes() != plain.tobytes()
    assert stamped.getpixel((5, 5)) == (0, 128, 0)  # only the bottom-right corner changed
    with pytest.raises(ExtensionError, match="ships with Atelier"):
        manager.uninstall("caption-stamp")


def test_a_zip_that_unpacks_too_large_is_refused(tmp_path, extension_manager, monkeypatch):
    from studio.scripts.extensions import sources

    monkeypatch.setattr(sources, "MAX_UNPACKED_BYTES", 1000)
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("extension.toml", 'name = "big"\n')
        bundle.writestr("scripts/data.py", "#" * 5000)
    with pytest.raises(ExtensionError, match="unpacks to") as caught:
        extension_manager.install(str(archive))
    assert caught.value.status == 413 and extension_manager.list() == []
