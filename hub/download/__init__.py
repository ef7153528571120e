"""Resumable, hash-verified downloads of catalog files into the studio's model folders."""

from hub.download.downloader import (
    MODEL_FOLDERS,
    DangerousFileRefused,
    DownloadCancelled,
    Downloader,
    DownloadError,
    DownloadEvent,
    DownloadPlan,
    DownloadResult,
    HashMismatch,
    NotEnoughSpace,
    PickleRefused,
    folder_for_type,
)
from hub.download.install import SIDECAR_SUFFIX, sidecar_path

__all__ = [
    "MODEL_FOLDERS",
    "SIDECAR_SUFFIX",
    "DangerousFileRefused",
    "DownloadCancelled",
    "DownloadError",
    "DownloadEvent",
    "DownloadPlan",
    "DownloadResult",
    "Downloader",
    "HashMismatch",
    "NotEnoughSpace",
    "PickleRefused",
    "folder_for_type",
    "sidecar_path",
]
