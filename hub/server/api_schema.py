"""What the hub server's responses look like, for its OpenAPI document.

The routes send JSON assembled from stored documents (`documents.py`), not from these classes;
these describe those documents field by field, so the OpenAPI document is checkable: the fuzz
test (tests/hub/server/test_openapi_fuzz.py) validates every response against them. Fields
every document has are required; `extra="allow"` leaves room for fields Civitai may add.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorBody(BaseModel):
    """Every error: a message that names the parameter or field at fault."""

    model_config = ConfigDict(extra="forbid")
    error: str


class FileMetadata(Doc):
    format: str
    size: str | None
    fp: str | None


class ModelFile(Doc):
    id: int
    sizeKB: float
    name: str
    type: str
    pickleScanResult: str
    pickleScanMessage: str | None
    virusScanResult: str
    virusScanMessage: str | None
    scannedAt: str
    metadata: FileMetadata
    hashes: dict[str, str]
    primary: bool
    downloadUrl: str


class VersionImage(Doc):
    id: int
    url: str
    nsfwLevel: int
    width: int
    height: int
    hash: str
    type: str
    hasMeta: bool
    hasPositivePrompt: bool
    onSite: bool
    remixOfId: int | None
    meta: dict[str, Any] | None


class VersionStats(Doc):
    downloadCount: int
    ratingCount: int
    rating: float
    thumbsUpCount: int
    thumbsDownCount: int


class ModelVersion(Doc):
    id: int
    index: int
    name: str
    baseModel: str
    baseModelType: str
    air: str
    createdAt: str
    updatedAt: str
    publishedAt: str
    status: str
    availability: str
    nsfwLevel: int
    description: str | None
    trainedWords: list[str]
    uploadType: str
    usageControl: str
    earlyAccessConfig: dict[str, Any] | None
    earlyAccessEndsAt: str | None
    supportsGeneration: bool
    stats: VersionStats
    files: list[ModelFile]
    images: list[VersionImage]
    downloadUrl: str


class ModelSummary(Doc):
    name: str
    type: str
    nsfw: bool
    poi: bool
    minor: bool


class StandaloneVersion(ModelVersion):
    """`GET /model-versions/{id}`: a version with its model's id and a summary of the model."""

    modelId: int
    model: ModelSummary


class ModelStats(Doc):
    downloadCount: int
    favoriteCount: int
    thumbsUpCount: int
    thumbsDownCount: int
    commentCount: int
    ratingCount: int
    rating: float
    tippedAmountCount: int


class Cosmetic(Doc):
    id: int
    name: str
    value: str


class Cosmetics(Doc):
    """What a user has equipped from the shop, by kind ({} for none)."""

    badge: Cosmetic | None = None
    nameColor: Cosmetic | None = None
    decoration: Cosmetic | None = None


class ModelCreator(Doc):
    username: str
    image: str | None
    cosmetics: Cosmetics | None = None


class Model(Doc):
    id: int
    name: str
    description: str
    allowNoCredit: bool
    allowCommercialUse: list[str]
    allowDerivatives: bool
    allowDifferentLicense: bool
    type: str
    minor: bool
    sfwOnly: bool
    poi: bool
    nsfw: bool
    nsfwLevel: int
    availability: str
    mode: str | None
    cosmetic: dict[str, Any] | None
    supportsGeneration: bool
    createdAt: str
    updatedAt: str
    stats: ModelStats
    creator: ModelCreator
    tags: list[str]
    modelVersions: list[ModelVersion]
    checkpointType: str | None = None  # Checkpoints only


class ListMetadata(Doc):
    """Cursor paging: nextCursor/nextPage (absent on the last page). Offset paging (`page`):
    totalItems, currentPage, pageSize, totalPages, nextPage, prevPage."""

    nextCursor: str | None = None
    nextPage: str | None = None
    prevPage: str | None = None
    totalItems: int | None = None
    currentPage: int | None = None
    pageSize: int | None = None
    totalPages: int | None = None


class ModelList(Doc):
    items: list[Model]
    metadata: ListMetadata


class ImageStats(Doc):
    cryCount: int
    laughCount: int
    likeCount: int
    dislikeCount: int
    heartCount: int
    commentCount: int


class ImageItem(Doc):
    id: int
    url: str
    hash: str
    width: int
    height: int
    type: str
    nsfwLevel: str
    nsfw: bool
    browsingLevel: int
    createdAt: str
    postId: int | None
    stats: ImageStats
    meta: dict[str, Any] | None
    username: str
    baseModel: str
    modelVersionIds: list[int]


class ImageList(Doc):
    items: list[ImageItem]
    metadata: ListMetadata


class CreatorItem(Doc):
    username: str
    modelCount: int
    link: str
    image: str | None


class CreatorList(Doc):
    items: list[CreatorItem]
    metadata: ListMetadata


class TagItem(Doc):
    name: str
    modelCount: int
    link: str


class TagList(Doc):
    items: list[TagItem]
    metadata: ListMetadata


class VersionMini(Doc):
    """The trimmed version downloaders read; the file fields describe the primary file."""

    air: str
    versionName: str
    modelName: str
    baseModel: str
    availability: str
    publishedAt: str
    size: float | None
    fileType: str | None
    fileName: str | None
    hashes: dict[str, str] | None
    format: str | None
    downloadUrls: list[str]
    canGenerate: bool
    requireAuth: bool
    checkPermission: bool
    earlyAccessEndsAt: str | None
    minor: bool
    sfwOnly: bool


class VersionIdByHash(Doc):
    modelVersionId: int
    hash: str


class Me(Doc):
    id: int
    username: str
    role: Literal["user", "moderator", "admin"]
    tier: str
    status: str
    isMember: bool
    subscriptions: list[Any]
    createdAt: str
    modelCount: int


class UserRef(Doc):
    id: int
    username: str


class UserLookup(Doc):
    items: list[UserRef]


class Change(Doc):
    """One entry of the change feed: `data` is the entity's document (a model, a creator, a
    published article, a public collection, a review, a comment, or a user's equipped
    cosmetics: `{"username", "cosmetics"}`), null for a delete."""

    seq: int
    entity: Literal["model", "creator", "article", "collection", "review", "comment", "cosmetics"]
    id: int | str
    action: Literal["upsert", "delete"]
    data: dict[str, Any] | None


class ChangeFeed(Doc):
    items: list[Change]
    nextCursor: str
    hasMore: bool


class Account(Doc):
    id: int
    username: str
    role: Literal["user", "moderator", "admin"]
    apiKey: str


class AccountRole(Doc):
    id: int
    username: str
    role: Literal["user", "moderator", "admin"]


class ApiKeyInfo(Doc):
    id: int
    name: str
    createdAt: str


class ApiKeyList(Doc):
    items: list[ApiKeyInfo]


class NewApiKey(Doc):
    id: int
    name: str
    apiKey: str


class Favorite(Doc):
    modelId: int
    favorite: bool
