"""Plain value types passed into the store's write methods (no SQL, no HTTP)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.server.hashing import FileHashes


@dataclass(frozen=True)
class NewBlob:
    """A stored file's bytes (content-addressed by SHA256) and every hash of them."""

    hashes: FileHashes
    path: str  # relative to the data directory


@dataclass(frozen=True)
class NewFile:
    name: str
    type: str
    format: str
    blob: NewBlob
    fp: str | None = None
    size_class: str | None = None
    is_primary: bool = False
    pickle_scan_result: str = "Success"
    pickle_scan_message: str = "No Pickle imports"


@dataclass(frozen=True)
class NewMedia:
    sha256: str
    path: str  # relative to the data directory
    width: int
    height: int
    blurhash: str


@dataclass(frozen=True)
class NewVersionImage:
    """An image uploaded with a model version (shown in its gallery): the stored media, and the
    nsfw level and generation parameters it is published with."""

    media: NewMedia
    nsfw_level: int = 1
    meta: dict[str, Any] | None = None


@dataclass(frozen=True)
class NewVersion:
    name: str
    base_model: str
    files: list[NewFile]
    base_model_type: str = "Standard"
    description: str | None = None
    trained_words: list[str] = field(default_factory=list)
    images: list[NewVersionImage] = field(default_factory=list)


@dataclass(frozen=True)
class NewModel:
    name: str
    type: str
    version: NewVersion
    description: str = ""
    tags: list[str] = field(default_factory=list)
    nsfw: bool = False
    checkpoint_type: str | None = None
    poi: bool = False
    minor: bool = False
    allow_no_credit: bool = True
    allow_commercial_use: list[str] = field(default_factory=lambda: ["Image", "RentCivit"])
    allow_derivatives: bool = True
    allow_different_license: bool = True


@dataclass(frozen=True)
class ModelQuery:
    """Filters and order of `GET /api/v1/models` after validation."""

    limit: int = 100
    sort: str = "Highest Rated"
    query: str | None = None
    tag: str | None = None
    username: str | None = None
    ids: tuple[int, ...] = ()
    types: tuple[str, ...] = ()
    base_models: tuple[str, ...] = ()
    checkpoint_type: str | None = None
    nsfw: bool | None = False
    published_after: str | None = None
    after: tuple[Any, int] | None = None  # keyset position (sort value, id)
    offset: int | None = None  # page mode
    primary_file_only: bool = False
    favorites_of: int | None = None  # only this account's favourite models


@dataclass(frozen=True)
class ImageQuery:
    limit: int = 100
    sort: str = "Newest"
    model_id: int | None = None
    version_id: int | None = None
    username: str | None = None
    max_nsfw_level: int | None = None
    browsing_level: int | None = None  # bitmask of allowed nsfw levels (overrides max_nsfw_level)
    post_id: int | None = None
    image_id: int | None = None
    base_models: tuple[str, ...] = ()
    created_after: str | None = None
    after: tuple[Any, int] | None = None
    offset: int | None = None


@dataclass(frozen=True)
class DownloadFile:
    file_id: int
    version_id: int
    name: str
    path: str
    size: int
    sha256: str
