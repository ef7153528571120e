"""Installed extensions: discovery, isolated loading in dependency order, and management.

Extensions live one folder each in the install folder (user installs) and in shipped folders
(the ones Atelier comes with). Enabled/disabled state and where each came from are kept in a
JSON file in the data dir, written atomically. Loading imports an extension's scripts under
its own package name (`atelier_ext_<name>`), registers its `Script` subclasses and module
hookimpls on the `ScriptManager`, and logs the time taken. An extension that fails (bad
manifest, import error, missing requirement, dependency cycle) is listed with its error and
the others load normally.
"""

from __future__ import annotations

import datetime
import graphlib
import importlib
import importlib.machinery
import importlib.util
import inspect
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from studio.scripts.base import Script
from studio.scripts.extensions import sources
from studio.scripts.extensions.manifest import ExtensionError, Manifest, check_name, read_manifest
from studio.scripts.manager import ScriptManager

log = logging.getLogger(__name__)
STATE_FILE = "extensions.json"


@dataclass
class ExtensionInfo:
    name: str
    path: str
    version: str = "0"
    description: str = ""
    requires: list[str] = field(default_factory=list)
    load_after: list[str] = field(default_factory=list)
    load_before: list[str] = field(default_factory=list)
    enabled: bool = True
    shipped: bool = False  # comes with Atelier: can be disabled, not uninstalled
    source: str = ""  # where it was installed from
    commit: str | None = None  # git checkout's HEAD
    status: str = "not loaded"  # loaded | disabled | error | not loaded
    error: str | None = None
    load_ms: float | None = None
    scripts: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def package_name(extension: str) -> str:
    return "atelier_ext_" + re.sub(r"\W", "_", extension)


class ExtensionManager:
    def __init__(
        self,
        install_dir: Path,
        state_path: Path,
        scripts: ScriptManager,
        shipped_dirs: Iterable[Path] = (),
    ) -> None:
        self.install_dir = Path(install_dir)
        self.state_path = Path(state_path)
        self.scripts = scripts
        self.shipped_dirs = [Path(d) for d in shipped_dirs if Path(d).resolve() != self.install_dir.resolve()]
        self._lock = threading.RLock()
        self._loaded: dict[str, ExtensionInfo] = {}  # name -> info from the last load attempt

    @classmethod
    def from_config(cls, config: Any, scripts: ScriptManager) -> ExtensionManager:
        """User extensions in `<data_dir>/extensions`, shipped ones in the project's `extensions/`."""
        from studio.config import PROJECT_ROOT

        return cls(
            config.data_dir / "extensions",
            config.data_dir / STATE_FILE,
            scripts,
            [PROJECT_ROOT / "extensions"],
        )

    # -- state --------------------------------------------------------------------------------

    def _read_state(self) -> dict[str, dict[str, Any]]:
        if not self.state_path.exists():
            return {}
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            log.error("extension state %s unreadable (%s); using defaults", self.state_path, error)
            return {}
        return dict(data.get("extensions", {}))

    def _write_state(self, state: dict[str, dict[str, Any]]) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=self.state_path.parent, delete=False, suffix=".tmp", encoding="utf-8"
        ) as handle:
            json.dump({"extensions": state}, handle, indent=2, sort_keys=True)
            temp = handle.name
        os.replace(temp, self.state_path)

    def _update_state(self, name: str, **changes: Any) -> None:
        state = self._read_state()
        state[name] = {**state.get(name, {}), **changes}
        self._write_state(state)

    # -- discovery ----------------------------------------------------------------------------

    def _folders(self) -> dict[str, tuple[Path, bool]]:
        """Extension folder name -> (path, shipped); user installs win over shipped ones."""
        found: dict[str, tuple[Path, bool]] = {}
        for root, shipped in [*((d, True) for d in self.shipped_dirs), (self.install_dir, False)]:
            if not root.is_dir():
                continue
            for folder in sorted(root.iterdir()):
                if folder.is_dir() and not folder.name.startswith((".", "_")):
                    found[folder.name] = (folder, shipped)
        return found

    def list(self) -> list[ExtensionInfo]:
        """Every extension on disk with its state and last load result."""
        with self._lock:
            state = self._read_state()
            infos = []
            for folder_name, (folder, shipped) in self._folders().items():
                saved = state.get(folder_name, {})
                info = ExtensionInfo(
                    name=folder_name,
                    path=str(folder),
                    shipped=shipped,
                    enabled=bool(saved.get("enabled", True)),
                    source=str(saved.get("source", "shipped" if shipped else "")),
                    commit=sources.git_commit(folder),
                )
                try:
                    manifest = read_manifest(folder)
                    info.version, info.description = manifest.version, manifest.description
                    info.requires, info.load_after = list(manifest.requires), list(manifest.load_after)
                    info.load_before = list(manifest.load_before)
                except ExtensionError as error:
                    info.status, info.error = "error", str(error)
                loaded = self._loaded.get(folder_name)
                if loaded is not None and info.error is None:
                    info.status, info.error = loaded.status, loaded.error
                    info.load_ms, info.scripts = loaded.load_ms, loaded.scripts
                elif not info.enabled and info.error is None:
                    info.status = "disabled"
                infos.append(info)
            return infos

    def get(self, name: str) -> ExtensionInfo:
        for info in self.list():
            if info.name == name:
                return info
        raise ExtensionError(f"no extension named {name!r}", 404)

    # -- loading ------------------------------------------------------------------------------

    def load_all(self) -> list[ExtensionInfo]:
        """Load every enabled extension in dependency order; failures are recorded, not raised."""
        with self._lock:
            infos = {info.name: info for info in self.list()}
            enabled = {name: info for name, info in infos.items() if info.enabled and info.error is None}
            graph: dict[str, set[str]] = {name: set() for name in enabled}
            for name, info in enabled.items():
                graph[name] |= {dep for dep in (*info.requires, *info.load_after) if dep in enabled}
                for later in info.load_before:
                    if later in enabled:
                        graph[later].add(name)
            order = self._order(graph)
            for name in order:
                if name in self._loaded and self._loaded[name].status == "loaded":
                    continue
                info = enabled[name]
                missing = [
                    dep
                    for dep in info.requires
                    if self._loaded.get(dep, ExtensionInfo(dep, "")).status != "loaded"
                ]
                if missing:
                    self._fail(
                        info, f"requires {', '.join(missing)}, which is not installed, enabled or loaded"
                    )
                    continue
                self._load(info)
            for name, info in infos.items():
                if name not in enabled and info.error:
                    log.error("extension %s not loaded: %s", name, info.error)
            return self.list()

    def _order(self, graph: dict[str, set[str]]) -> list[str]:
        remaining = {name: set(deps) for name, deps in graph.items()}
        while True:
            try:
                return list(graphlib.TopologicalSorter(remaining).static_order())
            except graphlib.CycleError as error:
                cycle = list(dict.fromkeys(error.args[1]))
                for name in cycle:
                    self._loaded[name] = ExtensionInfo(
                        name, "", status="error", error=f"load order cycle: {' -> '.join(error.args[1])}"
                    )
                    remaining.pop(name, None)
                for deps in remaining.values():
                    deps.difference_update(cycle)

    def _fail(self, info: ExtensionInfo, message: str) -> None:
        log.error("extension %s failed to load: %s", info.name, message)
        self._loaded[info.name] = ExtensionInfo(info.name, info.path, status="error", error=message)

    def _load(self, info: ExtensionInfo) -> None:
        started = time.perf_counter()
        folder = Path(info.path)
        source = f"extension:{info.name}"
        try:
            manifest = read_manifest(folder)
            registered = []
            for module in self._import_scripts(folder, manifest):
                registered += self._register_module(module, info.name, source)
        except Exception as error:  # any failure of third-party code: record it, go on
            self.scripts.unregister_source(source)
            self._forget_modules(info.name)
            self._fail(info, f"{type(error).__name__}: {error}")
            return
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.info(
            "extension %s %s loaded in %.1f ms (%s)",
            info.name,
            info.version,
            elapsed_ms,
            ", ".join(registered) or "no scripts",
        )
        self._loaded[info.name] = ExtensionInfo(
            info.name, info.path, status="loaded", load_ms=round(elapsed_ms, 2), scripts=registered
        )

    def _import_scripts(self, folder: Path, manifest: Manifest) -> list[ModuleType]:
        package = package_name(manifest.name)
        self._forget_modules(manifest.name)
        root_spec = importlib.machinery.ModuleSpec(package, None, is_package=True)
        root = importlib.util.module_from_spec(root_spec)
        root.__path__ = [str(folder)]
        sys.modules[package] = root
        files = [folder / item for item in manifest.scripts] or sorted((folder / "scripts").glob("*.py"))
        modules = []
        for file in files:
            if not file.is_file():
                raise ExtensionError(f"script {file.relative_to(folder)} does not exist")
            relative = file.relative_to(folder).with_suffix("")
            modules.append(importlib.import_module(".".join([package, *relative.parts])))
        return modules

    def _register_module(self, module: ModuleType, extension: str, source: str) -> list[str]:
        names = []
        for _, value in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(value, Script)
                and value is not Script
                and value.__module__ == module.__name__
                and value.name
            ):
                names.append(self.scripts.register(value(), source=source))
        has_hooks = any(hasattr(value, "atelier_impl") for value in vars(module).values() if callable(value))
        if has_hooks:
            suffix = module.__name__.rsplit(".", 1)[-1]
            names.append(self.scripts.register(module, name=f"{extension}.{suffix}", source=source))
        return names

    def _forget_modules(self, name: str) -> None:
        package = package_name(name)
        for module_name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[module_name]
        importlib.invalidate_caches()

    def _unload(self, name: str) -> None:
        self.scripts.unregister_source(f"extension:{name}")
        self._forget_modules(name)
        self._loaded.pop(name, None)

    # -- management ---------------------------------------------------------------------------

    def install(self, source: str, *, kind: str = "auto", local_client: bool = True) -> ExtensionInfo:
        """Install from a folder, a .zip or a git URL (`kind`: auto, folder, zip, git), enable
        it and load it. The files are staged first and moved into place only when complete.

        What the source is comes from parsing it (`sources.parse_source`): remote git URLs
        (https, ssh) from anyone, paths on this machine only for a `local_client` (else 403)."""
        parsed = sources.parse_source(source, kind)
        if not parsed.remote and not local_client:
            raise ExtensionError(
                "installing from a path on the studio's machine is allowed from that machine only; "
                "upload a zip or give an https:// or ssh git URL",
                403,
            )
        path = None
        if parsed.remote:
            kind = "git"
        else:
            kind, path = sources.local_source(parsed)
        with self._lock:
            self.install_dir.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.install_dir))
            try:
                target = staging / "extension"
                if kind == "git":
                    where = parsed if path is None else sources.InstallSource("git", str(path), remote=False)
                    sources.git_clone(where, target)
                else:
                    assert path is not None
                    target.mkdir()
                    if kind == "zip":
                        sources.extract_zip(path, target)
                    else:
                        sources.copy_folder(path, target)
                manifest = read_manifest(target) if (target / "extension.toml").exists() else None
                name = check_name(manifest.name if manifest else _default_name(source))
                destination = self.install_dir / name
                if destination.exists() or name in self._folders():
                    raise ExtensionError(f"an extension named {name!r} is already installed", 409)
                os.replace(target, destination)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            self._update_state(
                name, enabled=True, source=f"{kind}:{source}", remote=parsed.remote, installed_at=_now()
            )
            self._load(self.get(name))
            return self.get(name)

    def install_zip_bytes(self, data: bytes, filename: str = "upload.zip") -> ExtensionInfo:
        """Install from uploaded zip bytes (the API's multipart upload)."""
        with tempfile.TemporaryDirectory() as folder:
            archive = Path(folder) / (Path(filename).stem or "upload")
            archive = archive.with_suffix(".zip")
            archive.write_bytes(data)
            return self.install(str(archive), kind="zip")

    def enable(self, name: str) -> ExtensionInfo:
        with self._lock:
            self.get(name)
            self._update_state(name, enabled=True)
            if self._loaded.get(name) is None or self._loaded[name].status != "loaded":
                self._load(self.get(name))
            return self.get(name)

    def disable(self, name: str) -> ExtensionInfo:
        with self._lock:
            self.get(name)
            self._update_state(name, enabled=False)
            self._unload(name)
            return self.get(name)

    def uninstall(self, name: str) -> None:
        with self._lock:
            info = self.get(name)
            if info.shipped:
                raise ExtensionError(f"{name} ships with Atelier; disable it instead", 409)
            self._unload(name)
            trash = Path(tempfile.mkdtemp(prefix=".removing-", dir=self.install_dir))
            os.replace(Path(info.path), trash / name)
            shutil.rmtree(trash, ignore_errors=True)
            state = self._read_state()
            state.pop(name, None)
            self._write_state(state)

    def update(self, name: str) -> ExtensionInfo:
        """`git pull --ff-only` and reload when it is enabled."""
        with self._lock:
            info = self.get(name)
            remote = bool(self._read_state().get(name, {}).get("remote", False))
            commit = sources.git_pull(Path(info.path), remote=remote)
            self._update_state(name, updated_at=_now(), commit=commit)
            if info.enabled:
                self._unload(name)
                self._load(self.get(name))
            return self.get(name)


def _default_name(source: str) -> str:
    stem = Path(source.rstrip("/")).name
    return stem.removesuffix(".git").removesuffix(".zip")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
