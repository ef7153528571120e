"""Civitai-shaped JSON documents built from plain row dicts (no SQL, no HTTP here).

URLs are written relative to the server ("/api/download/models/5", "/media/<sha>.png") and
made absolute on the way out by `absolutize`, so a stored document is valid whatever host
name or port a client used to reach the server.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

# Compact separators: `absolutize` relies on them.
DUMP_SEPARATORS = (",", ":")
URL_KEYS = ("downloadUrl", "url", "image", "link", "coverImageUrl")

AIR_ECOSYSTEMS = {
    "SD 1.4": "sd1",
    "SD 1.5": "sd1",
    "SD 1.5 LCM": "sd1",
    "SD 1.5 Hyper": "sd1",
    "SD 2.0": "sd2",
    "SD 2.1": "sd2",
    "SDXL 1.0": "sdxl",
    "SDXL Lightning": "sdxl",
    "SDXL Hyper": "sdxl",
    "SDXL Turbo": "sdxl",
    "Pony": "sdxl",
    "Illustrious": "sdxl",
    "NoobAI": "sdxl",
    "SD 3": "sd3",
    "SD 3.5": "sd3",
    "SD 3.5 Medium": "sd3",
    "SD 3.5 Large": "sd3",
    "Flux.1 S": "flux1",
    "Flux.1 D": "flux1",
    "Flux.1 Kontext": "flux1",
}
AIR_TYPES = {"TextualInversion": "embedding", "LoCon": "lycoris", "Controlnet": "controlnet"}
NSFW_LEVEL_NAMES = {0: "None", 1: "None", 2: "Soft", 4: "Mature", 8: "X", 16: "X"}


def iso(value: str | datetime) -> str:
    """Civitai's timestamp format: 2025-12-18T08:55:00.000Z."""
    if isinstance(value, str):
        return value
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return iso(datetime.now(UTC))


def dumps(value: Any) -> str:
    return json.dumps(value, separators=DUMP_SEPARATORS, ensure_ascii=False)


def absolutize(text: str, origin: str) -> str:
    """Turn the relative URLs of a stored document into absolute ones on `origin`."""
    for key in URL_KEYS:
        text = text.replace(f'"{key}":"/', f'"{key}":"{origin}/')
    return text


def media_url(sha256: str | None) -> str | None:
    return f"/media/{sha256.lower()}.png" if sha256 else None


def air(base_model: str, model_type: str, model_id: int, version_id: int) -> str:
    ecosystem = AIR_ECOSYSTEMS.get(base_model, "other")
    kind = AIR_TYPES.get(model_type, model_type.lower())
    return f"urn:air:{ecosystem}:{kind}:civitai:{model_id}@{version_id}"


def file_download_url(version_id: int, file: Mapping[str, Any]) -> str:
    if file["is_primary"]:
        return f"/api/download/models/{version_id}"
    query = {"type": file["type"], "format": file["format"]}
    if file.get("fp"):
        query["fp"] = file["fp"]
    if file.get("size_class"):
        query["size"] = file["size_class"]
    return f"/api/download/models/{version_id}?{urlencode(query)}"


def file_document(version_id: int, file: Mapping[str, Any]) -> dict[str, Any]:
    hashes = {"AutoV1": file["autov1"], "AutoV2": file["sha256"][:10], "SHA256": file["sha256"]}
    hashes["CRC32"] = file["crc32"]
    hashes["BLAKE3"] = file["blake3"]
    if file.get("autov3"):
        hashes["AutoV3"] = file["autov3"]
    return {
        "id": file["id"],
        "sizeKB": file["size"] / 1024,
        "name": file["name"],
        "type": file["type"],
        "pickleScanResult": file["pickle_scan_result"],
        "pickleScanMessage": file["pickle_scan_message"],
        "virusScanResult": file["virus_scan_result"],
        "virusScanMessage": None,
        "scannedAt": file["scanned_at"],
        "metadata": {"format": file["format"], "size": file.get("size_class"), "fp": file.get("fp")},
        "hashes": hashes,
        "primary": bool(file["is_primary"]),
        "downloadUrl": file_download_url(version_id, file),
    }


def image_meta(meta_json: str | None) -> dict[str, Any] | None:
    return json.loads(meta_json) if meta_json else None


def version_image_document(image: Mapping[str, Any]) -> dict[str, Any]:
    meta = image_meta(image.get("meta"))
    return {
        "id": image["id"],
        "url": media_url(image["media_sha"]),
        "nsfwLevel": image["nsfw_level"],
        "width": image["width"],
        "height": image["height"],
        "hash": image["blurhash"],
        "type": "image",
        "hasMeta": meta is not None,
        "hasPositivePrompt": bool(meta and meta.get("prompt")),
        "onSite": False,
        "remixOfId": None,
        "meta": meta,
    }


def version_document(
    model: Mapping[str, Any],
    version: Mapping[str, Any],
    files: Iterable[Mapping[str, Any]],
    images: Iterable[Mapping[str, Any]],
) -> dict[str, Any]:
    vid = version["id"]
    rating_count = version["rating_count"]
    return {
        "id": vid,
        "index": version["position"],
        "name": version["name"],
        "baseModel": version["base_model"],
        "baseModelType": version["base_model_type"],
        "air": air(version["base_model"], model["type"], model["id"], vid),
        "createdAt": version["created_at"],
        "updatedAt": version["updated_at"],
        "publishedAt": version["published_at"],
        "status": "Published",
        "availability": "Public",
        "nsfwLevel": version["nsfw_level"],
        "description": version["description"],
        "trainedWords": json.loads(version["trained_words"] or "[]"),
        "uploadType": "Created",
        "usageControl": "Download",
        "earlyAccessConfig": None,
        "earlyAccessEndsAt": None,
        "supportsGeneration": False,
        "stats": {
            "downloadCount": version["download_count"],
            "ratingCount": rating_count,
            "rating": version["rating"],
            "thumbsUpCount": version["thumbs_up_count"],
            "thumbsDownCount": version["thumbs_down_count"],
        },
        "files": [file_document(vid, f) for f in files],
        "images": [version_image_document(i) for i in images],
        "downloadUrl": f"/api/download/models/{vid}",
    }


def model_document(
    model: Mapping[str, Any],
    creator: Mapping[str, Any],
    tags: list[str],
    versions: list[dict[str, Any]],
) -> dict[str, Any]:
    """The Civitai model object; `versions` are `version_document`s, newest first."""
    doc: dict[str, Any] = {
        "id": model["id"],
        "name": model["name"],
        "description": model["description"],
        "allowNoCredit": bool(model["allow_no_credit"]),
        "allowCommercialUse": json.loads(model["allow_commercial_use"] or "[]"),
        "allowDerivatives": bool(model["allow_derivatives"]),
        "allowDifferentLicense": bool(model["allow_different_license"]),
        "type": model["type"],
        "minor": bool(model["minor"]),
        "sfwOnly": False,
        "poi": bool(model["poi"]),
        "nsfw": bool(model["nsfw"]),
        "nsfwLevel": model["nsfw_level"],
        "availability": "Public",
        "mode": None,
        "cosmetic": None,
        "supportsGeneration": False,
        "createdAt": model["published_at"],
        "updatedAt": model["updated_at"],
        "stats": {
            "downloadCount": model["download_count"],
            "favoriteCount": model["collected_count"],
            "thumbsUpCount": model["thumbs_up_count"],
            "thumbsDownCount": model["thumbs_down_count"],
            "commentCount": model["comment_count"],
            "ratingCount": model["rating_count"],
            "rating": model["rating"],
            "tippedAmountCount": model["tipped_amount_count"],
        },
        "creator": {"username": creator["username"], "image": media_url(creator.get("image_sha"))},
        "tags": tags,
        "modelVersions": versions,
    }
    if model["type"] == "Checkpoint":
        doc["checkpointType"] = model.get("checkpoint_type") or "Standard"
    return doc


def standalone_version(model_doc: Mapping[str, Any], version_id: int) -> dict[str, Any] | None:
    """`GET /model-versions/{id}`: one version of a model doc, with modelId and a model summary."""
    for version in model_doc["modelVersions"]:
        if version["id"] == version_id:
            out = dict(version)
            out["modelId"] = model_doc["id"]
            out["model"] = {
                "name": model_doc["name"],
                "type": model_doc["type"],
                "nsfw": model_doc["nsfw"],
                "poi": model_doc["poi"],
                "minor": model_doc["minor"],
            }
            return out
    return None


def image_document(image: Mapping[str, Any]) -> dict[str, Any]:
    """An item of `GET /api/v1/images`."""
    level = image["nsfw_level"]
    meta = image_meta(image.get("meta"))
    return {
        "id": image["id"],
        "url": media_url(image["media_sha"]),
        "hash": image["blurhash"],
        "width": image["width"],
        "height": image["height"],
        "type": "image",
        "nsfwLevel": NSFW_LEVEL_NAMES.get(level, "X"),
        "nsfw": level > 1,
        "browsingLevel": level,
        "createdAt": image["created_at"],
        "postId": image["post_id"],
        "stats": {
            "cryCount": image["cry_count"],
            "laughCount": image["laugh_count"],
            "likeCount": image["like_count"],
            "dislikeCount": image["dislike_count"],
            "heartCount": image["heart_count"],
            "commentCount": image["comment_count"],
        },
        "meta": meta,
        "username": image["username"],
        "baseModel": image["base_model"],
        "modelVersionIds": [image["version_id"]],
    }


def creator_document(username: str, image_sha: str | None, model_count: int) -> dict[str, Any]:
    """A creator, as in `GET /api/v1/creators` and the change feed."""
    return {
        "username": username,
        "modelCount": model_count,
        "link": f"/api/v1/models?{urlencode({'username': username})}",
        "image": media_url(image_sha),
    }
