"""SDXL prompts in A1111's prompt language: emphasis weights, long prompts in 75-token chunks,
BREAK, prompt editing and alternation, embeddings (installed on both encoders by
`networks.embeddings`).

How A1111 (and Forge) encode an SDXL prompt, followed here:
- each CLIP encoder (ViT-L `text_encoder`, OpenCLIP bigG `text_encoder_2`; the refiner has
  only the second) tokenizes the text with its own tokenizer and encodes it chunk by chunk to
  its penultimate layer (clip skip n: n + 1 from the end), no final layer norm;
- the weights multiply each token's vector and the chunk is rescaled to its mean before
  weighting, per encoder (as for SD 1.x, `conditioning.apply_emphasis`);
- the encoders' outputs are joined along the width (768 + 1280 = 2048), the chunks along the
  sequence; the pooled vector is bigG's projection of the first chunk;
- an empty negative prompt is encoded as the empty text (as A1111 does, and diffusers when it
  is handed ""); a plain prompt gives the tensors diffusers' `encode_prompt` does.

`AND` (composable prompts) stays SD 1.x / 2.x: its guidance would need SDXL's pooled and size
conditioning per part. Prompt editing switches the embeddings between the base model's steps;
a refiner takes the text in effect at the switch.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from studio.pipeline.conditioning import apply_emphasis, chunk_texts, special_tokens
from studio.prompts.attention import PromptSyntaxError
from studio.prompts.chunks import PromptChunk, empty_chunk
from studio.prompts.parse import parse_prompt
from studio.prompts.schedule import ScheduledText, text_for_step
from studio.request import RequestError

ENCODERS = (("tokenizer", "text_encoder"), ("tokenizer_2", "text_encoder_2"))


def _pairs(pipe: Any) -> list[tuple[Any, Any]]:
    return [
        (getattr(pipe, tokenizer), getattr(pipe, encoder))
        for tokenizer, encoder in ENCODERS
        if getattr(pipe, encoder, None) is not None
    ]


def encode_sdxl(pipe: Any, texts: list[str], clip_skip: int) -> tuple[Any, Any]:
    """Embeddings (texts, 77 * chunks, width) and pooled vectors (texts, 1280) of `texts`."""
    import torch

    pairs = _pairs(pipe)
    chunked = [chunk_texts(tokenizer, texts) for tokenizer, _encoder in pairs]
    count = max(len(chunks) for per_encoder in chunked for chunks in per_encoder)
    widths = []
    pooled = None
    for (tokenizer, encoder), per_text in zip(pairs, chunked, strict=True):
        blank = empty_chunk(special_tokens(tokenizer))
        pieces = []
        for index in range(count):
            batch: list[PromptChunk] = [
                chunks[index] if index < len(chunks) else blank for chunks in per_text
            ]
            tokens = torch.tensor([chunk.tokens for chunk in batch], device=encoder.device)
            output = encoder(tokens, output_hidden_states=True)
            z = apply_emphasis(output.hidden_states[-(clip_skip + 1)], [chunk.weights for chunk in batch])
            pieces.append(z.to(dtype=encoder.dtype))
            if index == 0 and hasattr(output, "text_embeds"):
                pooled = output.text_embeds
        widths.append(torch.cat(pieces, dim=1))
    assert pooled is not None, "SDXL's last text encoder has a projection"
    return torch.cat(widths, dim=-1), pooled


@dataclass
class _Scheduled:
    schedule: list[ScheduledText]
    embeds: Any  # (texts, tokens, width)
    pooled: Any  # (texts, 1280)

    def at(self, step_index: int) -> tuple[Any, Any]:
        index = text_for_step(self.schedule, step_index)
        return self.embeds[index : index + 1], self.pooled[index : index + 1]


class SdxlConditioning:
    """What the engine asks of a prompt's conditioning, for an SDXL pipeline."""

    composable = False

    def __init__(self, positive: _Scheduled, negative: _Scheduled) -> None:
        self.positive = positive
        self.negative = negative

    @property
    def scheduled(self) -> bool:
        return len(self.positive.schedule) > 1 or len(self.negative.schedule) > 1

    def kwargs_at(self, step_index: int) -> dict[str, Any]:
        embeds, pooled = self.positive.at(step_index)
        negative, negative_pooled = self.negative.at(step_index)
        return {
            "prompt": None,
            "negative_prompt": None,
            "prompt_embeds": embeds,
            "pooled_prompt_embeds": pooled,
            "negative_prompt_embeds": negative,
            "negative_pooled_prompt_embeds": negative_pooled,
        }

    def pipeline_kwargs(self) -> dict[str, Any]:
        kwargs = self.kwargs_at(0)
        if self.scheduled:
            kwargs["callback_on_step_end_tensor_inputs"] = ["latents", "prompt_embeds", "add_text_embeds"]
        return kwargs

    def on_step_end(self, pipeline: Any, step_index: int, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        """The next step's embeddings and pooled vectors (negative first with guidance on)."""
        current = callback_kwargs.get("prompt_embeds")
        if not self.scheduled or current is None or current.shape[-1] != self.positive.embeds.shape[-1]:
            return callback_kwargs  # nothing scheduled, or a refiner's call (its own encoders)
        import torch

        embeds, pooled = self.positive.at(step_index + 1)
        negative, negative_pooled = self.negative.at(step_index + 1)
        guided = pipeline.do_classifier_free_guidance
        images = current.shape[0] // (2 if guided else 1)
        tokens = [negative, embeds] if guided else [embeds]
        vectors = [negative_pooled, pooled] if guided else [pooled]
        callback_kwargs["prompt_embeds"] = torch.cat([t.repeat(images, 1, 1) for t in tokens]).to(current)
        added = callback_kwargs["add_text_embeds"]
        callback_kwargs["add_text_embeds"] = torch.cat([v.repeat(images, 1) for v in vectors]).to(added)
        return callback_kwargs

    def unet_hooks(self, pipe: Any) -> AbstractContextManager[Any]:
        return nullcontext()


def sdxl_conditioning(
    pipe: Any, prompt: str, negative_prompt: str, steps: int, clip_skip: int
) -> SdxlConditioning:
    """Both prompts parsed for `steps` steps and encoded for `pipe` (SDXL base or refiner).
    RequestError naming the prompt for `AND`, which SDXL does not take."""
    import torch

    try:
        parsed = parse_prompt(prompt, steps)
    except PromptSyntaxError as error:
        raise RequestError("prompt", str(error)) from None
    if len(parsed) != 1 or parsed[0].weight != 1.0:
        raise RequestError(
            "prompt", "AND (composable prompts) works with SD 1.x / 2.x models only; SDXL is not"
        )
    try:
        [negative_part] = parse_prompt(negative_prompt, steps, positive=False)
    except PromptSyntaxError as error:
        raise RequestError("negative_prompt", str(error)) from None
    items = []
    for schedule in (parsed[0].schedule, negative_part.schedule):
        embeds, pooled = encode_sdxl(pipe, [entry.text for entry in schedule], clip_skip)
        items.append(_Scheduled(schedule, embeds, pooled))
    positive, negative = items
    # equal lengths, as A1111 pads: the shorter with the empty prompt's chunks
    length = max(positive.embeds.shape[1], negative.embeds.shape[1])
    for item in items:
        short = length - item.embeds.shape[1]
        if short:
            blank, _ = encode_sdxl(pipe, [""], clip_skip)
            fill = blank.repeat(1, short // blank.shape[1], 1).expand(item.embeds.shape[0], -1, -1)
            item.embeds = torch.cat([item.embeds, fill], dim=1)
    return SdxlConditioning(positive, negative)


def refiner_prompt_kwargs(
    pipe: Any, prompt: str, negative_prompt: str, steps: int, clip_skip: int, switch_step: int, count: int
) -> dict[str, Any]:
    """The refiner's prompt arguments: the texts in effect at the switch, for `count` images."""
    kwargs = sdxl_conditioning(pipe, prompt, negative_prompt, steps, clip_skip).kwargs_at(switch_step)
    for name in ("prompt_embeds", "negative_prompt_embeds"):
        kwargs[name] = kwargs[name].repeat(count, 1, 1)
    for name in ("pooled_prompt_embeds", "negative_pooled_prompt_embeds"):
        kwargs[name] = kwargs[name].repeat(count, 1)
    return kwargs
