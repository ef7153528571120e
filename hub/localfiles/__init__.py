"""The studio's model files on disk: hashed (cached), linked to catalog entries."""

from hub.localfiles.scan import MODEL_SUFFIXES, ScanReport, list_local_models, scan_models
from hub.store.local_files import LocalModel

__all__ = ["MODEL_SUFFIXES", "LocalModel", "ScanReport", "list_local_models", "scan_models"]
