"""Textual inversion: embeddings from `models/embeddings`, used by file name in a prompt.

Files, in A1111's formats: `.safetensors` holding one tensor (`emb_params`, a diffusers concept's
token name, or `string_to_param.*`), and `.pt` / `.bin` (`string_to_param` dicts as A1111 trains
them, or one-tensor diffusers concepts) only with the pickle allowance. SDXL embeddings
(`clip_l` + `clip_g`) go to SDXL's two text encoders; on a single-encoder model (and a plain
one on SDXL) they are refused as made for another model.

How a prompt uses them: each embedding of n vectors gets n placeholder tokens
(`<ti-HASH-0>` ...), added to a copy of the model's tokenizer; the text encoder's token
embedding is wrapped so those ids look up the embedding's vectors. The prompt's mentions of the
embedding's name (whole words, case-insensitive, as A1111 matches tokens) are replaced by the
placeholders before encoding, so any prompt encoder that uses `pipe.tokenizer` and
`pipe.text_encoder` encodes them. Restoring puts the original tokenizer and embedding module
back: nothing of the base model is changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.pipeline.networks.lora_format import LoraFormatError, load_state_dict


class EmbeddingFormatError(ValueError):
    """A file in models/embeddings that is not a usable embedding; the message names it."""


@dataclass(frozen=True)
class EmbeddingFile:
    name: str  # the file name without extension: what a prompt writes
    vectors: Any  # float32 tensor (vectors, width); or {"clip_l": ..., "clip_g": ...} for SDXL
    key: str  # short content hash, makes the placeholder tokens unique
    step: int | None = None
    sd_checkpoint: str | None = None
    sd_checkpoint_name: str | None = None

    @property
    def is_sdxl(self) -> bool:
        return isinstance(self.vectors, dict)

    @property
    def width(self) -> int:
        if self.is_sdxl:
            return int(self.vectors["clip_l"].shape[-1] + self.vectors["clip_g"].shape[-1])
        return int(self.vectors.shape[-1])

    @property
    def count(self) -> int:
        tensor = self.vectors["clip_g"] if self.is_sdxl else self.vectors
        return int(tensor.shape[0])

    def placeholders(self) -> list[str]:
        return [f"<ti-{self.key}-{i}>" for i in range(self.count)]


def read_embedding(path: Path, key: str, allow_pickle: bool) -> EmbeddingFile:
    """The embedding in `path`; EmbeddingFormatError naming the file when it is none."""
    path = Path(path)
    try:
        data, _metadata = (
            load_state_dict(path, allow_pickle)
            if path.suffix == ".safetensors"
            else (
                _load_pickle(path, allow_pickle),
                {},
            )
        )
    except LoraFormatError as error:
        raise EmbeddingFormatError(str(error)) from None
    return embedding_from_data(path.stem, data, key, path.name)


def _load_pickle(path: Path, allow_pickle: bool) -> Any:
    if not allow_pickle:
        raise EmbeddingFormatError(
            f"{path.name}: refusing to load a pickle file ({path.suffix}): unpickling can run arbitrary "
            "code. Convert it to .safetensors, or start with --allow-pickle (allow_pickle) if you trust "
            "where it came from."
        )
    import torch

    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:
        return torch.load(str(path), map_location="cpu", weights_only=False)


def embedding_from_data(name: str, data: Any, key: str, label: str) -> EmbeddingFile:
    """A1111's `create_embedding_from_data`: string_to_param, SDXL clip_g/clip_l, or one tensor."""
    import torch

    if not isinstance(data, Mapping):
        raise EmbeddingFormatError(f"{label}: not an embedding (holds a {type(data).__name__})")
    flat_params = {k: v for k, v in data.items() if str(k).startswith("string_to_param.")}
    if "string_to_param" in data or flat_params:
        params = data.get("string_to_param", flat_params)
        params = getattr(params, "_parameters", params)
        if len(params) != 1:
            raise EmbeddingFormatError(f"{label}: the embedding file has {len(params)} terms in it, not one")
        vectors: Any = next(iter(params.values())).detach().float()
    elif "clip_g" in data and "clip_l" in data:
        vectors = {k: data[k].detach().float() for k in ("clip_l", "clip_g")}
    else:
        tensors = {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}
        if len(tensors) != 1:
            raise EmbeddingFormatError(
                f"{label}: not an embedding: expected one tensor (emb_params, string_to_param or a "
                f"concept's token), found {len(tensors)} ({', '.join(list(map(str, tensors))[:4])})"
            )
        vectors = next(iter(tensors.values())).detach().float()
    if not isinstance(vectors, dict):
        if vectors.dim() == 1:
            vectors = vectors.unsqueeze(0)
        if vectors.dim() != 2 or vectors.shape[0] == 0:
            raise EmbeddingFormatError(
                f"{label}: the embedding has shape {tuple(vectors.shape)}, not (vectors, width)"
            )

    def optional(field: str) -> Any:
        value = data.get(field)
        return None if isinstance(value, torch.Tensor) else value

    return EmbeddingFile(
        name,
        vectors,
        key,
        step=optional("step"),
        sd_checkpoint=optional("sd_checkpoint"),
        sd_checkpoint_name=optional("sd_checkpoint_name"),
    )


def mentioned(text: str, names: Iterable[str]) -> list[str]:
    """The names used in `text`, whole words and case-insensitive, in order of first use."""
    pattern, lookup = _names_pattern(names)
    found: list[str] = []
    if pattern is not None:
        for match in pattern.finditer(text):
            name = lookup[_normal(match.group(0))]
            if name not in found:
                found.append(name)
    return found


def replace_names(text: str, placeholders: Mapping[str, Sequence[str]]) -> str:
    """`text` with every mention of an embedding replaced by its placeholder tokens, in one
    pass (the longest name wins where names overlap: `style-large` over `style`)."""
    pattern, lookup = _names_pattern(placeholders)
    if pattern is None:
        return text
    return pattern.sub(lambda match: " ".join(placeholders[lookup[_normal(match.group(0))]]), text)


def _normal(text: str) -> str:
    return " ".join(text.split()).lower()


def _names_pattern(names: Iterable[str]) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    lookup = {_normal(name): name for name in names if name.strip()}
    if not lookup:
        return None, lookup
    bodies = [
        r"\s+".join(re.escape(part) for part in name.split())
        for name in sorted(lookup, key=len, reverse=True)
    ]
    return re.compile(rf"(?<!\w)(?:{'|'.join(bodies)})(?!\w)", re.IGNORECASE), lookup


class ExtendedTokenEmbedding:
    """Factory of the wrapped token embedding (a torch module made on demand, so this module
    imports without torch)."""

    @staticmethod
    def build(base: Any, extra: Any, first: int) -> Any:
        import torch

        class _Extended(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.base = base
                self.register_buffer("extra", extra, persistent=False)
                self.base_size = first

            @property
            def weight(self) -> Any:
                return self.base.weight

            def forward(self, ids: Any) -> Any:
                inside = ids < self.base_size
                out = self.base(torch.where(inside, ids, torch.zeros_like(ids)))
                if not bool(inside.all()):
                    out = out.clone()
                    out[~inside] = self.extra[ids[~inside] - self.base_size].to(out.dtype)
                return out

        return _Extended()


# (tokenizer, text encoder, the key of an SDXL embedding's vectors for it)
SLOTS = (("tokenizer", "text_encoder", "clip_l"), ("tokenizer_2", "text_encoder_2", "clip_g"))


class EmbeddingPatcher:
    """The embeddings a prompt uses, on one loaded model: each CLIP tokenizer (a copy with the
    placeholder tokens) and its text encoder's token embedding (wrapped). SD 1.x / 2.x have one
    pair; SDXL two (an SDXL embedding's `clip_l` vectors go to the first, `clip_g` to the
    second; the SDXL refiner has only the second)."""

    def __init__(self) -> None:
        self.signature: tuple[str, ...] = ()
        self._base_tokenizers: dict[str, Any] = {}
        self._tokenizers: dict[str, Any] = {}
        self._base_embeddings: dict[str, Any] = {}

    def apply(self, pipe: Any, embeddings: Sequence[EmbeddingFile]) -> bool:
        """Make exactly `embeddings` usable on `pipe`; returns True when anything changed."""
        slots = _slots(pipe)
        for tokenizer, _encoder, _key in slots:
            self._base_tokenizers.setdefault(tokenizer, getattr(pipe, tokenizer))
        signature = tuple(embedding.key for embedding in embeddings)
        changed = signature != self.signature
        if changed:
            self._restore_encoders(pipe)
            if embeddings:
                self._install(pipe, slots, embeddings)
            self.signature = signature
        for tokenizer, _encoder, _key in slots:
            wanted = self._tokenizers[tokenizer] if self.signature else self._base_tokenizers[tokenizer]
            if getattr(pipe, tokenizer) is not wanted:
                setattr(pipe, tokenizer, wanted)
        return changed

    def restore(self, pipe: Any) -> None:
        self.apply(pipe, [])

    def _install(
        self, pipe: Any, slots: list[tuple[str, str, str]], embeddings: Sequence[EmbeddingFile]
    ) -> None:
        import torch

        two = len(slots) > 1 or slots[0][1] == "text_encoder_2"  # SDXL (or its refiner)
        widths = {
            encoder: getattr(pipe, encoder).get_input_embeddings().weight.shape[1]
            for _t, encoder, _k in slots
        }
        for embedding in embeddings:
            if embedding.is_sdxl != two or (not two and embedding.width != widths["text_encoder"]):
                kind = "SDXL (clip_l + clip_g)" if embedding.is_sdxl else f"width {embedding.width}"
                model = (
                    "two text encoders (SDXL)" if two else f"a text encoder of width {widths['text_encoder']}"
                )
                raise EmbeddingFormatError(
                    f"embedding {embedding.name!r} is made for another model ({kind}); this model has {model}"
                )
        for tokenizer_name, encoder_name, key in slots:
            encoder = getattr(pipe, encoder_name)
            base = encoder.get_input_embeddings()
            vectors = [embedding.vectors[key] if two else embedding.vectors for embedding in embeddings]
            for embedding, tensor in zip(embeddings, vectors, strict=True):
                if tensor.shape[-1] != base.weight.shape[1]:
                    raise EmbeddingFormatError(
                        f"embedding {embedding.name!r}: its {key} vectors have width {tensor.shape[-1]}, the "
                        f"{encoder_name} has {base.weight.shape[1]}"
                    )
            tokenizer, first = _with_placeholders(self._base_tokenizers[tokenizer_name], embeddings, base)
            extra = torch.cat(list(vectors)).to(base.weight.device)
            self._base_embeddings[encoder_name] = base
            encoder.set_input_embeddings(ExtendedTokenEmbedding.build(base, extra, first))
            self._tokenizers[tokenizer_name] = tokenizer

    def _restore_encoders(self, pipe: Any) -> None:
        for encoder_name, base in self._base_embeddings.items():
            getattr(pipe, encoder_name).set_input_embeddings(base)
        self._base_embeddings.clear()
        self._tokenizers.clear()
        self.signature = ()


def _slots(pipe: Any) -> list[tuple[str, str, str]]:
    return [
        slot
        for slot in SLOTS
        if getattr(pipe, slot[1], None) is not None and getattr(pipe, slot[0], None) is not None
    ]


def _with_placeholders(
    base_tokenizer: Any, embeddings: Sequence[EmbeddingFile], base: Any
) -> tuple[Any, int]:
    """A copy of `base_tokenizer` with the embeddings' placeholder tokens, and the first one's id."""
    import copy

    from transformers import AddedToken

    tokenizer = copy.deepcopy(base_tokenizer)
    tokens = [token for embedding in embeddings for token in embedding.placeholders()]
    tokenizer.add_tokens([AddedToken(token, normalized=False) for token in tokens])
    ids = tokenizer.convert_tokens_to_ids(tokens)
    first = ids[0]
    if ids != list(range(first, first + len(tokens))) or first > base.num_embeddings:
        raise EmbeddingFormatError(
            f"the tokenizer ({len(base_tokenizer)} tokens) and the text encoder "
            f"({base.num_embeddings} embeddings) disagree; cannot add embeddings"
        )
    return tokenizer, first
