"""Prompt embeddings, computed once per text encoder and reused while they stay recent.

An X/Y/Z sweep over steps, CFG or samplers, a batch run with n_iter > 1, or a user pressing
Generate again with the same prompt all ask for the same embeddings; this keeps the last few.
The embeddings are computed the way diffusers does (CLIP last hidden state through the final
layer norm; A1111's clip skip takes an earlier layer), so outputs stay pixel-identical to a
plain diffusers call. diffusers' own `clip_skip` argument is not used: it reaches for
`text_encoder.text_model`, which transformers 5 no longer has.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Any


class PromptEmbeddingCache:
    def __init__(self, size: int = 32) -> None:
        self._size = size
        # key: (id(text encoder), text, clip_skip) -> (weak reference to that encoder, embeddings)
        self._entries: OrderedDict[tuple[int, str, int], tuple[weakref.ref, Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def pipeline_kwargs(self, pipe: Any, prompt: str, negative_prompt: str, clip_skip: int) -> dict[str, Any]:
        """The keyword arguments that hand a diffusers SD pipeline ready-made embeddings."""
        return {
            "prompt": None,
            "negative_prompt": None,
            "prompt_embeds": self.embed(pipe, prompt, clip_skip),
            "negative_prompt_embeds": self.embed(pipe, negative_prompt, clip_skip),
        }

    def embed(self, pipe: Any, text: str, clip_skip: int) -> Any:
        encoder = pipe.text_encoder
        key = (id(encoder), text, clip_skip)
        entry = self._entries.get(key)
        # The weak reference guards against a new encoder reusing a freed one's id.
        if entry is not None and entry[0]() is encoder:
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]
        self.misses += 1
        embeddings = _encode(pipe, text, clip_skip)
        self._entries[key] = (weakref.ref(encoder), embeddings)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return embeddings


def _encode(pipe: Any, text: str, clip_skip: int) -> Any:
    """Embeddings from the encoder's layer `clip_skip` from the end (A1111 numbering: 1 = last),
    through the final layer norm: for clip_skip 1 this equals diffusers' `last_hidden_state`."""
    encoder = pipe.text_encoder
    tokenizer = pipe.tokenizer
    final_norm = getattr(encoder, "text_model", encoder).final_layer_norm
    tokens = tokenizer(
        [text],
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    )
    output = encoder(tokens.input_ids.to(encoder.device), output_hidden_states=True)
    return final_norm(output.hidden_states[-clip_skip]).to(dtype=encoder.dtype)
