"""The LoRAs and embeddings installed, by the names A1111 gives them, and as its API lists them.

- A LoRA is named in a prompt by its file name without extension (`<lora:add_detail:0.6>` for
  `models/Lora/styles/add_detail.safetensors`), by its path inside `models/Lora` without
  extension (`styles/add_detail`, which tells apart two files of the same name), or by its
  alias: the `ss_output_name` kohya writes in the metadata, when no other LoRA has that name.
- An embedding is used by its file name without extension, wherever the prompt writes it.
- Hashes, as A1111 writes them in the infotext (12 hex digits): a LoRA's `sshs_model_hash`
  from its metadata, else the SHA-256 of its safetensors data after the header (kohya's
  "addnet" hash; a pickle LoRA: of the whole file); an embedding's: of the whole file.

Reading here is header-only for `.safetensors` (no torch); pickle embeddings are read only with
the pickle allowance.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.pipeline.model_registry import ModelEntry, ModelRegistry
from studio.pipeline.networks.safetensors_header import HeaderError, a1111_metadata, read_header
from studio.request import RequestError

SHORT_HASH = 12  # A1111's `shorthash`


class UnknownNetworkError(RequestError):
    """A prompt names a LoRA that is not installed (field `prompt`)."""


@dataclass(frozen=True)
class LoraEntry:
    entry: ModelEntry
    name: str  # the file name without extension (A1111's name)
    alias: str  # ss_output_name, or the name
    metadata: dict[str, str]

    @property
    def path_name(self) -> str:
        """The path inside models/Lora without extension (`styles/add_detail`)."""
        return self.entry.model_name

    @property
    def hash(self) -> str:
        """The full hash A1111 keys this LoRA by (see the module docstring)."""
        return self.metadata.get("sshs_model_hash") or self.entry.addnet_sha256 or self.entry.sha256

    @property
    def short_hash(self) -> str:
        return self.hash[:SHORT_HASH]


class NetworkCatalog:
    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry
        self._headers: dict[tuple[str, str], dict[str, str]] = {}  # (path, sha256) -> metadata

    # -- LoRAs --------------------------------------------------------------------------------
    def loras(self) -> list[LoraEntry]:
        result = []
        for entry in self.registry.loras():
            metadata = self._metadata(entry)
            name = Path(entry.name).stem if entry.format != "diffusers" else entry.name
            alias = metadata.get("ss_output_name") or name
            result.append(LoraEntry(entry, name, alias, metadata))
        return result

    def find_lora(self, wanted: str, tag_text: str) -> LoraEntry:
        """The LoRA a tag names (name, path without extension, or alias); UnknownNetworkError
        naming the tag and the nearest installed names when none or several match."""
        loras = self.loras()
        wanted = wanted.strip()
        for key in ("path_name", "name", "alias"):
            found = [lora for lora in loras if getattr(lora, key) == wanted]
            if key == "alias":
                names = {lora.name for lora in loras}
                found = [lora for lora in found if lora.alias not in names or lora.name == wanted]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                paths = ", ".join(lora.path_name for lora in found)
                raise UnknownNetworkError(
                    "prompt", f"{tag_text}: several LoRAs are named {wanted!r} ({paths}); write the path"
                )
        known = sorted({lora.name for lora in loras} | {lora.alias for lora in loras})
        nearest = difflib.get_close_matches(wanted, known, n=3, cutoff=0.5)
        hint = (
            f"; nearest: {', '.join(nearest)}"
            if nearest
            else (
                f"; installed: {', '.join(known[:10])}" if known else "; no LoRA is installed in models/Lora"
            )
        )
        raise UnknownNetworkError("prompt", f"{tag_text}: no LoRA named {wanted!r}{hint}")

    def lora_listing(self) -> list[dict[str, Any]]:
        """`/sdapi/v1/loras`: name, alias, path and metadata of each LoRA, as A1111 lists them."""
        return [
            {
                "name": lora.name,
                "alias": lora.alias,
                "path": str(lora.entry.path),
                "metadata": a1111_metadata(lora.metadata),
            }
            for lora in self.loras()
        ]

    def _metadata(self, entry: ModelEntry) -> dict[str, str]:
        if entry.format != "safetensors":
            return {}
        key = (str(entry.path), entry.sha256)
        if key not in self._headers:
            try:
                self._headers[key] = read_header(entry.path).metadata
            except (HeaderError, OSError):
                self._headers[key] = {}
        return self._headers[key]

    # -- embeddings ---------------------------------------------------------------------------
    def embeddings(self) -> dict[str, ModelEntry]:
        """Embeddings by name (file name without extension); of two files with one name the
        `.safetensors` one, else the first by path."""
        found: dict[str, ModelEntry] = {}
        for entry in sorted(self.registry.embeddings(), key=lambda e: (e.format != "safetensors", e.name)):
            found.setdefault(Path(entry.name).stem, entry)
        return dict(sorted(found.items(), key=lambda item: item[0].lower()))

    def embedding_listing(self, width: int | None, allow_pickle: bool) -> dict[str, dict[str, Any]]:
        """`/sdapi/v1/embeddings`: {"loaded": {name: info}, "skipped": {name: info}}, info being
        A1111's {step, sd_checkpoint, sd_checkpoint_name, shape, vectors}. Skipped: made for a
        text encoder of another width than the current model's (`width`), or unreadable (a
        pickle file without the allowance, a file that is no embedding)."""
        loaded: dict[str, Any] = {}
        skipped: dict[str, Any] = {}
        for name, entry in self.embeddings().items():
            info = embedding_info(entry, allow_pickle)
            usable = info["shape"] is not None and (width is None or info["shape"] == width)
            (loaded if usable else skipped)[name] = info
        return {"loaded": loaded, "skipped": skipped}


def embedding_info(entry: ModelEntry, allow_pickle: bool) -> dict[str, Any]:
    """A1111's description of one embedding file; shape and vectors None when unreadable."""
    info: dict[str, Any] = {
        "step": None,
        "sd_checkpoint": None,
        "sd_checkpoint_name": None,
        "shape": None,
        "vectors": None,
    }
    if entry.format == "safetensors":
        try:
            tensors = read_header(entry.path).tensors
        except (HeaderError, OSError):
            return info
        if "clip_g" in tensors and "clip_l" in tensors:
            info["shape"] = tensors["clip_g"][1][-1] + tensors["clip_l"][1][-1]
            info["vectors"] = tensors["clip_g"][1][0]
        elif len(tensors) == 1:
            shape = next(iter(tensors.values()))[1]
            if len(shape) in (1, 2):
                info["shape"] = shape[-1]
                info["vectors"] = 1 if len(shape) == 1 else shape[0]
        return info
    if not allow_pickle:
        return info
    from studio.pipeline.networks.embeddings import EmbeddingFormatError, read_embedding

    try:
        embedding = read_embedding(entry.path, entry.sha256[:SHORT_HASH], allow_pickle)
    except (EmbeddingFormatError, OSError, RuntimeError):
        return info
    info.update(
        step=embedding.step,
        sd_checkpoint=embedding.sd_checkpoint,
        sd_checkpoint_name=embedding.sd_checkpoint_name,
        shape=embedding.width,
        vectors=embedding.count,
    )
    return info


SINGLE_FILE_WIDTHS = {  # text-encoder width by a single-file checkpoint's key prefix
    "conditioner.embedders.1.": 768 + 1280,  # SDXL: CLIP-L + OpenCLIP-G, as A1111 counts it
    "cond_stage_model.model.": 1024,  # SD 2.x: OpenCLIP-H
    "cond_stage_model.transformer.": 768,  # SD 1.x: CLIP-L
}


def text_encoder_width(entry: ModelEntry) -> int | None:
    """The width of the embeddings a checkpoint's text encoder(s) take (A1111's "expected
    shape" of an embedding), from its config files or key names; None when it cannot tell;
    0 for a family that takes none."""
    import json

    from studio.pipeline.families.checks import EMBEDDING_FAMILIES
    from studio.pipeline.families.spec import FAMILIES

    if entry.family in FAMILIES and entry.family not in EMBEDDING_FAMILIES:
        return 0  # SD 3.5, Flux, Z-Image take no embeddings: none is listed as loaded
    folder = entry.path if entry.format == "diffusers" else entry.path.with_name(entry.path.stem + ".config")
    if (folder / "text_encoder" / "config.json").exists():
        width = 0
        for name in ("text_encoder", "text_encoder_2"):
            config = folder / name / "config.json"
            if config.exists():
                try:
                    width += int(json.loads(config.read_text(encoding="utf-8"))["hidden_size"])
                except (OSError, ValueError, KeyError, TypeError):
                    return None
        return width or None
    if entry.format != "safetensors":
        return None
    try:
        keys = read_header(entry.path).tensors
    except (HeaderError, OSError):
        return None
    for prefix, width in SINGLE_FILE_WIDTHS.items():
        if any(key.startswith(prefix) for key in keys):
            return width
    return None
