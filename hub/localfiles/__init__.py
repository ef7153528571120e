"""The studio's model files on disk: hashed (cached), linked to catalog entries."""

from hub.localfiles.scan import MODEL_SUFFIXES, LocalModel, ScanReport, list_local_models, scan_models

__all__ = ["MODEL_SUFFIXES", "LocalModel", "ScanReport", "list_local_models", "scan_models"]
