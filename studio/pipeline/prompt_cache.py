"""Prompt embeddings, computed once per text encoder and reused while they stay recent.

An X/Y/Z sweep over steps, CFG or samplers, a batch run with n_iter > 1, or a user pressing
Generate again with the same prompt all ask for the same embeddings; this keeps the last few.
An entry is keyed on what the embeddings depend on: the text encoder (by identity), clip skip,
and the token chunks with their weights of every text the prompt stands for over its steps
(`conditioning.chunk_key`). So `(cat:1.0)` and `cat` share an entry, and a schedule whose
texts are the same at another step count is encoded once; which text a step uses is worked
out per generation. The encoding itself is `conditioning.encode_chunks` (A1111's chunks,
weights and clip skip; a prompt without syntax is pixel-identical to a plain diffusers call).
diffusers' own `clip_skip` argument is not used: it reaches for `text_encoder.text_model`,
which transformers 5 no longer has.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Any

from studio.pipeline.conditioning import (
    ChunkKey,
    PromptConditioning,
    build_conditioning,
    chunk_key,
    chunk_texts,
    encode_chunks,
)
from studio.prompts.chunks import PromptChunk


class PromptEmbeddingCache:
    def __init__(self, size: int = 32) -> None:
        self._size = size
        # key: (id(text encoder), clip_skip, chunks) -> (weak reference to that encoder, embeddings)
        self._entries: OrderedDict[tuple[int, int, ChunkKey], tuple[weakref.ref, Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def conditioning(
        self, pipe: Any, prompt: str, negative_prompt: str, steps: int, clip_skip: int
    ) -> PromptConditioning:
        """Both prompts parsed for `steps` steps and encoded (see `conditioning`)."""
        return build_conditioning(pipe, prompt, negative_prompt, steps, clip_skip, self.embed_chunks)

    def embed(self, pipe: Any, text: str, clip_skip: int) -> Any:
        """The embeddings (1, 77 * chunks, width) of one text, with its attention weights."""
        return self.embed_chunks(pipe, chunk_texts(pipe.tokenizer, [text]), clip_skip)

    def embed_chunks(self, pipe: Any, chunked: list[list[PromptChunk]], clip_skip: int) -> Any:
        encoder = pipe.text_encoder
        key = (id(encoder), clip_skip, chunk_key(chunked))
        entry = self._entries.get(key)
        # The weak reference guards against a new encoder reusing a freed one's id.
        if entry is not None and entry[0]() is encoder:
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]
        self.misses += 1
        embeddings = encode_chunks(pipe, chunked, clip_skip)
        self._entries[key] = (weakref.ref(encoder), embeddings)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return embeddings
