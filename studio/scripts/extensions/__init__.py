"""Installable extensions: manifest, sources (folder, zip, git) and the manager."""

from studio.scripts.extensions.manager import ExtensionInfo, ExtensionManager
from studio.scripts.extensions.manifest import ExtensionError, Manifest, read_manifest

__all__ = ["ExtensionError", "ExtensionInfo", "ExtensionManager", "Manifest", "read_manifest"]
