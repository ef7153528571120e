"""A1111's response models for the listing routes, field for field (names, types, required or
not) as `modules/api/models.py` of AUTOMATIC1111/stable-diffusion-webui declares them, made
strict: an unknown key, a missing one or a wrong type fails, as it does in a strict client.
Not the studio's own models (`studio.http.a1111_shapes`): a test of them against these would
be a test of a copy against itself."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SamplerItem(Strict):
    name: str
    aliases: list[str]
    options: dict[str, Any]


class ScriptArg(Strict):
    label: str | None = None
    value: Any | None = None
    minimum: Any | None = None
    maximum: Any | None = None
    step: Any | None = None
    choices: list[str] | None = None


class ScriptInfo(Strict):
    name: str | None = None
    is_alwayson: bool | None = None
    is_img2img: bool | None = None
    args: list[ScriptArg]


class EmbeddingItem(Strict):
    step: int | None
    sd_checkpoint: str | None
    sd_checkpoint_name: str | None
    shape: int
    vectors: int


class EmbeddingsResponse(Strict):
    loaded: dict[str, EmbeddingItem]
    skipped: dict[str, EmbeddingItem]


class MemoryResponse(Strict):
    ram: dict
    cuda: dict


SAMPLERS = TypeAdapter(list[SamplerItem])
SCRIPT_INFOS = TypeAdapter(list[ScriptInfo])
