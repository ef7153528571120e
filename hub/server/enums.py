"""Civitai's public enum values (as served by `GET /api/v1/enums`) and the list sort orders."""

from __future__ import annotations

MODEL_TYPES: tuple[str, ...] = (
    "Checkpoint",
    "TextualInversion",
    "Hypernetwork",
    "AestheticGradient",
    "LORA",
    "LoCon",
    "DoRA",
    "Controlnet",
    "Upscaler",
    "MotionModule",
    "VAE",
    "Poses",
    "Wildcards",
    "Workflows",
    "Detection",
    "Other",
)

MODEL_FILE_TYPES: tuple[str, ...] = (
    "Model",
    "Text Encoder",
    "Pruned Model",
    "Negative",
    "Training Data",
    "VAE",
    "Config",
    "Archive",
)

BASE_MODELS: tuple[str, ...] = (
    "SD 1.4",
    "SD 1.5",
    "SD 1.5 LCM",
    "SD 1.5 Hyper",
    "SD 2.0",
    "SD 2.1",
    "SDXL 1.0",
    "SDXL Lightning",
    "SDXL Hyper",
    "SDXL Turbo",
    "SD 3",
    "SD 3.5",
    "SD 3.5 Medium",
    "SD 3.5 Large",
    "Pony",
    "Illustrious",
    "NoobAI",
    "Flux.1 S",
    "Flux.1 D",
    "Flux.1 Kontext",
    "AuraFlow",
    "Hunyuan 1",
    "Hunyuan Video",
    "Kolors",
    "Lumina",
    "PixArt a",
    "PixArt E",
    "Stable Cascade",
    "SVD",
    "Wan Video",
    "HiDream",
    "Chroma",
    "Qwen",
    "Other",
)

ACTIVE_BASE_MODELS: tuple[str, ...] = (
    "SD 1.5",
    "SDXL 1.0",
    "SD 3.5",
    "Pony",
    "Illustrious",
    "NoobAI",
    "Flux.1 D",
    "Flux.1 S",
    "Hunyuan Video",
    "Wan Video",
    "HiDream",
    "Chroma",
    "Qwen",
    "Other",
)

BASE_MODEL_TYPES: tuple[str, ...] = ("Standard", "Inpainting", "Refiner", "Pix2Pix")

FILE_FORMATS: tuple[str, ...] = (
    "SafeTensor",
    "PickleTensor",
    "GGUF",
    "Diffusers",
    "Core ML",
    "ONNX",
    "Other",
)
FILE_PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "bf16", "fp8", "nf4")
FILE_SIZES: tuple[str, ...] = ("full", "pruned")

CHECKPOINT_TYPES: tuple[str, ...] = ("Standard", "Trained", "Merge")

PERIODS: tuple[str, ...] = ("AllTime", "Year", "Month", "Week", "Day")
PERIOD_DAYS: dict[str, int | None] = {"AllTime": None, "Year": 365, "Month": 30, "Week": 7, "Day": 1}

# Sort name -> (models column, descending?). "Most Commented" is civitapy's name for "Most Discussed".
MODEL_SORTS: dict[str, tuple[str, bool]] = {
    "Highest Rated": ("rating", True),
    "Most Downloaded": ("download_count", True),
    "Most Liked": ("thumbs_up_count", True),
    "Most Discussed": ("comment_count", True),
    "Most Commented": ("comment_count", True),
    "Most Collected": ("collected_count", True),
    "Most Images": ("image_count", True),
    "Newest": ("published_at", True),
    "Oldest": ("published_at", False),
}

IMAGE_SORTS: dict[str, tuple[str, bool]] = {
    "Most Reactions": ("reaction_count", True),
    "Most Comments": ("comment_count", True),
    "Most Collected": ("collected_count", True),
    "Newest": ("created_at", True),
    "Oldest": ("created_at", False),
}

NSFW_LEVELS: tuple[str, ...] = ("None", "Soft", "Mature", "X")
# Civitai's browsing-level bit per nsfw level name.
NSFW_LEVEL_BITS: dict[str, int] = {"None": 1, "Soft": 2, "Mature": 4, "X": 8}

ROLES: tuple[str, ...] = ("user", "moderator", "admin")


def enums_document() -> dict[str, list[str]]:
    """The body of `GET /api/v1/enums`."""
    return {
        "ModelType": list(MODEL_TYPES),
        "ModelFileType": list(MODEL_FILE_TYPES),
        "ActiveBaseModel": list(ACTIVE_BASE_MODELS),
        "BaseModel": list(BASE_MODELS),
        "BaseModelType": list(BASE_MODEL_TYPES),
        "ModelFileFormat": list(FILE_FORMATS),
        "ModelSort": [s for s in MODEL_SORTS if s != "Most Commented"],
        "ImageSort": list(IMAGE_SORTS),
        "MetricTimeframe": list(PERIODS),
        "CheckpointType": list(CHECKPOINT_TYPES),
        "NsfwLevel": list(NSFW_LEVELS),
    }
