"""Receiving an uploaded model version: metadata checks, hashing, file checks, atomic placement.

Nothing is written under the data directory unless the whole upload is accepted: files are
staged in `DATA/tmp`, checked, and only then moved (content-addressed) into `DATA/files` and
`DATA/media` before the database transaction; a failed transaction removes what was placed.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hub.server.config import ServerConfig
from hub.server.enums import (
    BASE_MODEL_TYPES,
    BASE_MODELS,
    CHECKPOINT_TYPES,
    FILE_PRECISIONS,
    FILE_SIZES,
    MODEL_FILE_TYPES,
    MODEL_TYPES,
)
from hub.server.errors import describe_errors
from hub.server.filecheck import (
    FileRejected,
    check_file_name,
    check_safetensors,
    format_for_name,
    scan_pickle,
)
from hub.server.hashing import HashingWriter
from hub.server.media import media_from_png_bytes
from hub.server.records import NewBlob, NewFile, NewMedia, NewModel, NewVersion, NewVersionImage
from hub.server.text_fields import clean_html, plain_text, prompt_text, prompt_values

COPY_CHUNK = 1024 * 1024


class UploadRejected(ValueError):
    """An upload that must not be stored; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def display_name(value: str) -> str:
    """A model's or version's name: plain text, trimmed, not empty."""
    name = plain_text(value).strip()
    if not name:
        raise ValueError("empty once HTML tags are removed")
    return name


def tag_names(values: list[str]) -> list[str]:
    tags = [plain_text(tag).strip() for tag in values]
    for tag in tags:
        if not 1 <= len(tag) <= 50:
            raise ValueError("each tag must have 1 to 50 characters (HTML tags removed)")
    return tags


def _one_of(name: str, value: str | None, choices: tuple[str, ...]) -> str | None:
    if value is not None and value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of: {', '.join(choices)}")
    return value


class FileMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    type: str = "Model"
    format: str | None = None
    fp: str | None = None
    size: str | None = None
    primary: bool = False

    @field_validator("type")
    @classmethod
    def _type(cls, v: str) -> str:
        return _one_of("file type", v, MODEL_FILE_TYPES)  # type: ignore[return-value]

    @field_validator("fp")
    @classmethod
    def _fp(cls, v: str | None) -> str | None:
        return _one_of("fp", v, FILE_PRECISIONS)

    @field_validator("size")
    @classmethod
    def _size(cls, v: str | None) -> str | None:
        return _one_of("size", v, FILE_SIZES)


class ImageMetaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nsfwLevel: int = Field(1, ge=1, le=32)
    meta: dict[str, Any] | None = None

    @field_validator("meta")
    @classmethod
    def _meta(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        return prompt_values(v)


class VersionMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    baseModel: str
    baseModelType: str = "Standard"
    description: str | None = Field(None, max_length=50_000)
    trainedWords: list[str] = Field(default_factory=list, max_length=100)
    files: list[FileMeta] = Field(default_factory=list, max_length=16)
    images: list[ImageMetaIn] = Field(default_factory=list, max_length=32)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return display_name(v)

    @field_validator("trainedWords")
    @classmethod
    def _words(cls, v: list[str]) -> list[str]:
        return [prompt_text(w) for w in v]

    @field_validator("baseModel")
    @classmethod
    def _base(cls, v: str) -> str:
        return _one_of("baseModel", v, BASE_MODELS)  # type: ignore[return-value]

    @field_validator("baseModelType")
    @classmethod
    def _base_type(cls, v: str) -> str:
        return _one_of("baseModelType", v, BASE_MODEL_TYPES)  # type: ignore[return-value]


class ModelMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    type: str
    description: str = Field("", max_length=100_000)
    tags: list[str] = Field(default_factory=list, max_length=20)
    nsfw: bool = False
    checkpointType: str | None = None
    version: VersionMeta

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return display_name(v)

    @field_validator("type")
    @classmethod
    def _type(cls, v: str) -> str:
        return _one_of("model type", v, MODEL_TYPES)  # type: ignore[return-value]

    @field_validator("checkpointType")
    @classmethod
    def _ckpt(cls, v: str | None) -> str | None:
        return _one_of("checkpointType", v, CHECKPOINT_TYPES)

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        return tag_names(v)


def parse_metadata(raw: str | None, kind: type[BaseModel]) -> Any:
    if raw is None:
        raise UploadRejected("metadata: the form field 'metadata' (JSON) is required")
    try:
        return kind.model_validate_json(raw)
    except ValidationError as exc:
        raise UploadRejected(describe_errors(exc.errors(), located=False, within="metadata")) from None


@dataclass
class StagedFile:
    tmp: Path
    new_file: NewFile


@dataclass
class StagedImage:
    data: bytes
    new_image: NewVersionImage


@dataclass
class Upload:
    """A checked upload, staged under DATA/tmp; `place` moves it, `discard` removes it."""

    config: ServerConfig
    files: list[StagedFile]
    images: list[StagedImage]
    placed: list[Path]

    def version(self, meta: VersionMeta) -> NewVersion:
        return NewVersion(
            name=meta.name,
            base_model=meta.baseModel,
            base_model_type=meta.baseModelType,
            description=clean_html(meta.description),
            trained_words=[w.strip() for w in meta.trainedWords if w.strip()],
            files=[f.new_file for f in self.files],
            images=[i.new_image for i in self.images],
        )

    def place(self) -> None:
        """Move staged files to their content-addressed places (existing blobs are kept)."""
        for staged in self.files:
            final = self.config.data_dir / staged.new_file.blob.path
            if final.exists():
                staged.tmp.unlink(missing_ok=True)
                continue
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged.tmp, final)
            self.placed.append(final)
        for image in self.images:
            final = self.config.data_dir / image.new_image.media.path
            if final.exists():
                continue
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.config.tmp_dir / f"img-{uuid.uuid4().hex}"
            tmp.write_bytes(image.data)
            os.replace(tmp, final)
            self.placed.append(final)

    def discard(self, placed_too: bool = False) -> None:
        for staged in self.files:
            staged.tmp.unlink(missing_ok=True)
        if placed_too:
            for path in self.placed:
                path.unlink(missing_ok=True)


def blob_path(sha256: str) -> str:
    return f"files/{sha256[:2].lower()}/{sha256.lower()}"


def stage_file(
    config: ServerConfig, stream: BinaryIO, filename: str | None, meta: FileMeta, budget: int
) -> StagedFile:
    """Copy one uploaded file to DATA/tmp while hashing it, then check it."""
    name = check_file_name(filename or "")
    file_format = format_for_name(name, meta.format)
    config.tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = config.tmp_dir / f"up-{uuid.uuid4().hex}"
    writer = HashingWriter(safetensors=file_format == "SafeTensor")
    try:
        with tmp.open("wb") as out:
            while chunk := stream.read(COPY_CHUNK):
                if writer.size + len(chunk) > budget:
                    raise UploadRejected(f"file {name!r}: the upload is larger than the server's limit", 413)
                writer.update(chunk)
                out.write(chunk)
        hashes = writer.result()
        if hashes.size == 0:
            raise FileRejected(f"file {name!r}: empty")
        fp = meta.fp
        pickle_result, pickle_message = "Success", "No Pickle imports"
        if file_format == "SafeTensor":
            info = check_safetensors(tmp, name)
            fp = fp or info.precision
        elif file_format == "PickleTensor":
            scan = scan_pickle(tmp)
            pickle_result, pickle_message = scan.result, scan.message
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    new_file = NewFile(
        name=name,
        type=meta.type,
        format=file_format,
        blob=NewBlob(hashes, blob_path(hashes.sha256)),
        fp=fp,
        size_class=meta.size,
        is_primary=meta.primary,
        pickle_scan_result=pickle_result,
        pickle_scan_message=pickle_message,
    )
    return StagedFile(tmp, new_file)


def stage_image(config: ServerConfig, data: bytes, meta: ImageMetaIn) -> StagedImage:
    if len(data) > config.max_image_bytes:
        raise UploadRejected("images: an image is larger than the server's limit", 413)
    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ("PNG", "JPEG", "WEBP"):
                raise UploadRejected(f"images: {image.format} is not accepted (PNG, JPEG or WEBP)")
            if image.width * image.height > 64_000_000:
                raise UploadRejected("images: too many pixels")
            png = io.BytesIO()
            image.convert("RGB").save(png, format="PNG")
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise UploadRejected("images: not a readable image") from None
    media: NewMedia = media_from_png_bytes(png.getvalue())
    return StagedImage(
        png.getvalue(), NewVersionImage(media=media, nsfw_level=meta.nsfwLevel, meta=meta.meta)
    )


def stage_upload(
    config: ServerConfig,
    version_meta: VersionMeta,
    uploads: list[tuple[str | None, BinaryIO]],
    images: list[bytes],
    budget: int,
) -> Upload:
    """Check and stage every file and image of an upload; on any problem remove what was staged."""
    if not uploads:
        raise UploadRejected("files: at least one model file is required")
    if len(uploads) > config.max_files_per_upload:
        raise UploadRejected(f"files: at most {config.max_files_per_upload} files per upload")
    if len(images) > config.max_images_per_upload:
        raise UploadRejected(f"images: at most {config.max_images_per_upload} images per upload")
    names = [n or "" for n, _ in uploads]
    if len(set(names)) != len(names):
        raise UploadRejected("files: two files have the same name")
    metas = {m.name: m for m in version_meta.files}
    unknown = set(metas) - set(names)
    if unknown:
        raise UploadRejected(f"metadata.version.files: no uploaded file named {sorted(unknown)[0]!r}")
    if sum(m.primary for m in metas.values()) > 1:
        raise UploadRejected("metadata.version.files: only one file can be primary")
    upload = Upload(config, [], [], [])
    try:
        for name, stream in uploads:
            meta = metas.get(name or "") or FileMeta(name=name or "", primary=False)
            staged = stage_file(config, stream, name, meta, budget)
            budget -= staged.new_file.blob.hashes.size
            upload.files.append(staged)
        if not any(f.new_file.is_primary for f in upload.files):
            first = upload.files[0]
            first.new_file = replace(first.new_file, is_primary=True)
        image_metas = version_meta.images + [ImageMetaIn()] * (len(images) - len(version_meta.images))
        for data, meta in zip(images, image_metas, strict=False):
            upload.images.append(stage_image(config, data, meta))
    except FileRejected as exc:
        upload.discard()
        raise UploadRejected(str(exc)) from None
    except BaseException:
        upload.discard()
        raise
    return upload


def commit_upload(upload: Upload, write: Callable[[], Any]) -> Any:
    """Place the staged files, then run the database write; undo the placing if it fails."""
    try:
        upload.place()
        return write()
    except BaseException:
        upload.discard(placed_too=True)
        raise


def new_model(meta: ModelMeta, version: NewVersion) -> NewModel:
    return NewModel(
        name=meta.name.strip(),
        type=meta.type,
        version=version,
        description=clean_html(meta.description) or "",
        tags=meta.tags,
        nsfw=meta.nsfw,
        checkpoint_type=meta.checkpointType if meta.type == "Checkpoint" else None,
    )
