"""Flux.1 and SD 3.5 prompts with A1111's emphasis weights, encoded the way Forge encodes them.

Forge applies prompt weights to Flux's T5 tokens: each piece of the prompt is tokenized on its
own, its tokens carry its weight, and after the encoder each token's vector is multiplied by its
weight and the whole rescaled to the mean it had before (A1111's "Original" emphasis,
`conditioning.apply_emphasis`). The pooled CLIP-L vector is the plain text's (weights apply to
token vectors, and the pooled vector is one per prompt). A prompt without weights gives exactly
diffusers' own T5 embeddings (one sequence of `max_sequence_length`, truncated, `</s>` at the
end, padded).

SD 3.5 adds its two CLIPs: each encodes the prompt's first 77 tokens (as diffusers does) to its
penultimate layer with the weights applied per encoder, the two are joined along the width,
padded to T5's width and put before T5's 256 tokens; the pooled vector is both CLIPs' joined.

The T5 may run elsewhere than the denoiser (the `t5_on_cpu` memory strategy keeps it on the
CPU, in bf16 or fp32): its tokens go to the encoder's device, and the embeddings come back on
the pipeline's execution device in the denoiser's dtype.

What does not apply (refused by field in `checks.check_plain_prompts`): BREAK (T5 takes one
long sequence, there are no 75-token chunks to break), `AND`, and `[from:to:when]` editing
(these pipelines can swap only the positive embeddings between steps, not the negative ones
nor the pooled vector).
"""

from __future__ import annotations

from typing import Any

from studio.pipeline.conditioning import apply_emphasis
from studio.prompts.attention import parse_attention

SD3_T5_LENGTH = 256  # diffusers' default max_sequence_length for SD 3.5
CHROMA_T5_LENGTH = 512  # ChromaPipeline's default max_sequence_length


def t5_tokens(tokenizer: Any, text: str, length: int) -> tuple[list[int], list[float]]:
    """The token ids of `text` with each token's weight: pieces tokenized on their own,
    truncated to `length` with `</s>` last, padded."""
    ids: list[int] = []
    weights: list[float] = []
    for piece in parse_attention(text):
        tokens = tokenizer(piece.text, add_special_tokens=False).input_ids
        ids += tokens
        weights += [piece.weight] * len(tokens)
    ids, weights = [*ids[: length - 1], tokenizer.eos_token_id], [*weights[: length - 1], 1.0]
    pad = length - len(ids)
    return ids + [tokenizer.pad_token_id] * pad, weights + [1.0] * pad


def plain_text(text: str) -> str:
    return "".join(piece.text for piece in parse_attention(text))


def encode_flux(pipe: Any, text: str, length: int) -> tuple[Any, Any]:
    """T5 embeddings (1, length, width) with the weights applied, and the plain text's pooled
    CLIP-L vector (1, 768)."""
    import torch

    ids, weights = t5_tokens(pipe.tokenizer_2, text, length)
    encoder = pipe.text_encoder_2
    tokens = torch.tensor([ids], device=encoder.device)
    embeds = apply_emphasis(encoder(tokens, output_hidden_states=False)[0], [weights]).to(encoder.dtype)
    pooled = pipe._get_clip_prompt_embeds(prompt=[plain_text(text)], device=pipe._execution_device)
    return embeds.to(pipe._execution_device, pipe.transformer.dtype), pooled


class FluxConditioning:
    """What the engine asks of a prompt's conditioning, for a Flux pipeline."""

    composable = False

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self._kwargs = kwargs

    def pipeline_kwargs(self) -> dict[str, Any]:
        return dict(self._kwargs)

    def on_step_end(self, pipeline: Any, step_index: int, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        return callback_kwargs

    def unet_hooks(self, pipe: Any) -> Any:
        from contextlib import nullcontext

        return nullcontext()


def flux_conditioning(pipe: Any, prompt: str, negative_prompt: str | None, length: int) -> FluxConditioning:
    """The prompt (and, for true CFG, the negative prompt) encoded with their weights."""
    embeds, pooled = encode_flux(pipe, prompt, length)
    kwargs: dict[str, Any] = {"prompt": None, "prompt_embeds": embeds, "pooled_prompt_embeds": pooled}
    if negative_prompt is not None:
        negative, negative_pooled = encode_flux(pipe, negative_prompt, length)
        kwargs.update(
            negative_prompt=None,
            negative_prompt_embeds=negative,
            negative_pooled_prompt_embeds=negative_pooled,
        )
    return FluxConditioning(kwargs)


def encode_sd3(pipe: Any, text: str, clip_skip: int, length: int) -> tuple[Any, Any]:
    """SD 3.5's embeddings (1, 77 + length, T5 width) and pooled vector (1, 2048) of `text`."""
    import torch

    from studio.pipeline.conditioning import chunk_texts, special_tokens
    from studio.prompts.chunks import empty_chunk

    clips, pooled = [], []
    for tokenizer, encoder in ((pipe.tokenizer, pipe.text_encoder), (pipe.tokenizer_2, pipe.text_encoder_2)):
        chunks = chunk_texts(tokenizer, [text])[0] or [empty_chunk(special_tokens(tokenizer))]
        tokens = torch.tensor([chunks[0].tokens], device=encoder.device)
        output = encoder(tokens, output_hidden_states=True)
        clips.append(
            apply_emphasis(output.hidden_states[-(clip_skip + 1)], [chunks[0].weights]).to(encoder.dtype)
        )
        pooled.append(output[0])
    clip = torch.cat(clips, dim=-1)
    encoder = pipe.text_encoder_3
    ids, weights = t5_tokens(pipe.tokenizer_3, text, length)
    t5 = apply_emphasis(encoder(torch.tensor([ids], device=encoder.device))[0], [weights]).to(encoder.dtype)
    clip = torch.nn.functional.pad(clip, (0, t5.shape[-1] - clip.shape[-1]))
    device, dtype = pipe._execution_device, pipe.transformer.dtype
    joined = torch.cat([clip.to(device, dtype), t5.to(device, dtype)], dim=-2)
    return joined, torch.cat(pooled, dim=-1).to(device)


def sd3_conditioning(pipe: Any, prompt: str, negative_prompt: str, clip_skip: int) -> FluxConditioning:
    embeds, pooled = encode_sd3(pipe, prompt, clip_skip, SD3_T5_LENGTH)
    negative, negative_pooled = encode_sd3(pipe, negative_prompt, clip_skip, SD3_T5_LENGTH)
    return FluxConditioning(
        {
            "prompt": None,
            "negative_prompt": None,
            "prompt_embeds": embeds,
            "pooled_prompt_embeds": pooled,
            "negative_prompt_embeds": negative,
            "negative_pooled_prompt_embeds": negative_pooled,
        }
    )


def encode_chroma(pipe: Any, text: str, length: int) -> tuple[Any, Any]:
    """Chroma's T5 embeddings (1, length, width) with the weights applied, and the attention
    mask its transformer takes: Chroma, unlike Flux, runs T5 with the padding masked, and its
    transformer sees the prompt's tokens and the first padding token only (as ChromaPipeline)."""
    import torch

    ids, weights = t5_tokens(pipe.tokenizer, text, length)
    real = length - ids[::-1].index(pipe.tokenizer.eos_token_id)  # tokens up to </s>
    encoder = pipe.text_encoder
    mask = torch.tensor([[1] * real + [0] * (length - real)], device=encoder.device)
    output = encoder(torch.tensor([ids], device=encoder.device), attention_mask=mask)[0]
    embeds = apply_emphasis(output, [weights]).to(encoder.dtype)
    device, dtype = pipe._execution_device, pipe.transformer.dtype
    attention = (torch.arange(length) <= real).to(device=device, dtype=dtype).unsqueeze(0)
    return embeds.to(device, dtype), attention


def chroma_conditioning(pipe: Any, prompt: str, negative_prompt: str) -> FluxConditioning:
    """The prompt and the negative prompt (Chroma runs real CFG) encoded with their weights."""
    embeds, mask = encode_chroma(pipe, prompt, CHROMA_T5_LENGTH)
    negative, negative_mask = encode_chroma(pipe, negative_prompt, CHROMA_T5_LENGTH)
    return FluxConditioning(
        {
            "prompt": None,
            "negative_prompt": None,
            "prompt_embeds": embeds,
            "prompt_attention_mask": mask,
            "negative_prompt_embeds": negative,
            "negative_prompt_attention_mask": negative_mask,
        }
    )
