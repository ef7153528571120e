"""Issue #20.2: what an install source is comes from parsing it, never from its suffix.

Remote git URLs are https:// and ssh (ssh://host/path, user@host:path); everything else is a
path on the studio's machine (a client elsewhere gets 403 for it, see
tests/studio/http/test_extensions.py) or refused outright with the reason."""

from __future__ import annotations

import pytest

from studio.scripts.extensions.manifest import ExtensionError
from studio.scripts.extensions.sources import parse_source, remote_git_url
from tests.studio.scripts.conftest import git, write_extension


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/owner/repo.git",
        "https://github.com/owner/repo",
        "https://git.example.org:8443/group/sub/repo.git",
        "ssh://git@example.org/owner/repo.git",
        "ssh://example.org:2222/owner/repo",
        "git@github.com:owner/repo.git",
        "deploy@git.example.org:team/repo",
    ],
)
def test_real_remote_urls_are_remote(url: str) -> None:
    assert remote_git_url(url) == url
    parsed = parse_source(url)
    assert parsed.remote and parsed.kind == "git" and parsed.location == url


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("/tmp/repo.git", "a .git suffix does not make a path remote"),
        ("repo.git", "a relative path with a .git suffix"),
        ("../../repo.git", "a relative path climbing out"),
        ("./x", "a relative path"),
        ("file:///tmp/repo.git", "file:// is a path on this machine"),
        ("FILE:///tmp/repo", "the scheme in capitals"),
        ("~/repo.git", "a home-relative path"),
    ],
)
def test_paths_in_disguise_are_local(source: str, why: str) -> None:
    assert remote_git_url(source) is None, why
    assert parse_source(source).remote is False, why


@pytest.mark.parametrize(
    "source",
    [
        "ext::sh -c touch% /tmp/pwned",  # git's ext transport runs a command
        "ext::sh",
        "fd::17",
        "https::https://example.org/repo.git",  # <transport>::<address> helper syntax
        "--upload-pack=touch /tmp/pwned",  # an option in the URL's place
        "-uhttps://example.org/repo.git",
        "ssh://-oProxyCommand=touch%20/tmp/pwned/repo",  # an option as the ssh host
        "git@-oProxyCommand=x:repo",
        "https://example.org/repo.git --upload-pack=touch",  # whitespace: two arguments
        "https://example.org/re\npo",
        "http://example.org/repo.git",  # no TLS: anyone on the way could change the code
        "git://example.org/repo.git",
        "ftp://example.org/repo.git",
        "https:example.org/repo.git",
        "https:///repo.git",
        "https://example.org",
        "https://example.org:99999/repo",
    ],
)
def test_tricks_are_never_remote_and_never_reach_git(source: str) -> None:
    assert remote_git_url(source) is None
    try:
        parsed = parse_source(source)
    except ExtensionError as error:
        assert error.status == 422
        return
    assert parsed.remote is False  # at most a local path: from the studio's machine only


def test_kind_must_agree_with_the_source() -> None:
    with pytest.raises(ExtensionError, match="not a URL") as error:
        parse_source("https://example.org/repo.git", "zip")
    assert error.value.status == 422
    with pytest.raises(ExtensionError, match="unknown install kind"):
        parse_source("/tmp/x", "svn")
    assert parse_source("/tmp/x.git", "git").remote is False  # kind git does not make it remote


def test_a_remote_client_cannot_install_a_local_repo_by_any_name(tmp_path, extension_manager) -> None:
    """Each trick against the manager as the HTTP route calls it for a client elsewhere: 403,
    nothing installed, and the repository's code never ran."""
    marker = tmp_path / "ran"
    repo = write_extension(tmp_path / "evil.git", "evil", "x")
    (repo / "scripts" / "main.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "evil")
    (tmp_path / "link.git").symlink_to(repo)
    for source, kind in [
        (str(repo), "auto"),  # ends in .git
        (str(repo), "git"),
        (f"file://{repo}", "auto"),
        (str(tmp_path / "link.git"), "auto"),  # a symlink to it
        ("evil.git", "auto"),  # relative
        (f"{tmp_path}/../{tmp_path.name}/evil.git", "auto"),
    ]:
        with pytest.raises(ExtensionError) as error:
            extension_manager.install(source, kind=kind, local_client=False)
        assert error.value.status == 403, source
    assert not marker.exists()
    assert extension_manager.list() == []


def test_the_local_machine_installs_local_sources_but_not_relative_ones(tmp_path, extension_manager) -> None:
    repo = write_extension(tmp_path / "fine.git", "fine", "x")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first")
    info = extension_manager.install(f"file://{repo}")
    assert info.status == "loaded" and info.commit
    with pytest.raises(ExtensionError, match="relative path") as error:
        extension_manager.install("fine.git")
    assert error.value.status == 422


def test_a_folder_that_is_no_extension_is_not_copied(tmp_path, extension_manager) -> None:
    (tmp_path / "big" / "data").mkdir(parents=True)
    with pytest.raises(ExtensionError, match="not an extension folder") as error:
        extension_manager.install(str(tmp_path / "big"))
    assert error.value.status == 422


def test_a_remote_url_goes_to_git_with_only_https_and_ssh_allowed(tmp_path, extension_manager) -> None:
    """A real URL from a remote client is cloned (here it cannot connect: 502 from git), and
    git runs with GIT_ALLOW_PROTOCOL=https:ssh so a redirect or submodule cannot switch to
    `file` or `ext`."""
    with pytest.raises(ExtensionError, match="git clone failed") as error:
        extension_manager.install("https://127.0.0.1:9/owner/repo.git", local_client=False)
    assert error.value.status == 502


def test_git_runs_with_only_the_protocols_of_the_source(tmp_path) -> None:
    """GIT_ALLOW_PROTOCOL: a clone for a remote source may not fall back to `file` (nor `ext`),
    whatever a redirect or submodule asks for."""
    from studio.scripts.extensions import sources

    repo = write_extension(tmp_path / "r", "r", "x")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first")
    with pytest.raises(ExtensionError, match="not allowed"):
        sources._git(["clone", "--quiet", "--", f"file://{repo}", str(tmp_path / "a")])
    with pytest.raises(ExtensionError, match="not allowed"):
        sources._git(["clone", "--quiet", "--", "ext::sh -c true", str(tmp_path / "b")], protocols="file")
    sources._git(["clone", "--quiet", "--", f"file://{repo}", str(tmp_path / "c")], protocols="file")
    assert (tmp_path / "c" / "extension.toml").exists()
