"""Resumable, hash-verified downloads of catalog files into the studio's model folders."""

from hub.download.downloader import (
    MODEL_FOLDERS,
    DownloadCancelled,
    Downloader,
    DownloadError,
    DownloadEvent,
    DownloadPlan,
    HashMismatch,
    NotEnoughSpace,
    PickleRefused,
    folder_for_type,
)

__all__ = [
    "MODEL_FOLDERS",
    "DownloadCancelled",
    "DownloadError",
    "DownloadEvent",
    "DownloadPlan",
    "Downloader",
    "HashMismatch",
    "NotEnoughSpace",
    "PickleRefused",
    "folder_for_type",
]
