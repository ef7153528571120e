"""Parsed prompts to text embeddings, and the embeddings a step of sampling uses.

A1111 semantics (modules/sd_hijack_clip.py, sd_emphasis.py "Original", prompt_parser.py):

- Every text a prompt stands for over the steps is cut into 77-token chunks
  (`studio.prompts.chunks`); the texts of one prompt are encoded together, chunk by chunk, a
  text with fewer chunks getting empty ones, and the chunks are joined along the sequence
  (77, 154, ... tokens).
- Each chunk goes through the text encoder to the layer `clip_skip` from the end (1 = last)
  and the final layer norm; then each token's vector is multiplied by its weight and the whole
  batch of that chunk is rescaled to its mean before weighting (skipped when that mean is zero
  to float precision, where A1111's rescale would be noise).
- The negative prompt is padded with the empty prompt's chunk to the positive one's length
  (A1111's "pad prompt/negative prompt to be same length": diffusers needs equal shapes).
- Sampling step k (0-based, one per model evaluation) uses the first scheduled text whose last
  step is >= k; `PromptConditioning.on_step_end` swaps the pipeline's `prompt_embeds` between
  steps when that text changes.
- Composable prompts (`AND` parts, or one part with a `:weight`) are combined in the guidance
  by UNet hooks around the pipeline call (`composable_guidance.py`), which also pick each
  part's text per step.

A prompt without any syntax gives the same tensor diffusers' own `encode_prompt` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from studio.prompts.attention import PromptSyntaxError, parse_attention
from studio.prompts.chunks import CHUNK_LENGTH, PromptChunk, SpecialTokens, chunk_prompt, empty_chunk
from studio.prompts.parse import parse_prompt
from studio.prompts.schedule import ScheduledText, text_for_step
from studio.request import RequestError

if TYPE_CHECKING:
    from studio.pipeline.model_registry import ModelEntry

ChunkKey = tuple[tuple[tuple[int, ...], tuple[float, ...]], ...]
"""The tokens and weights of every chunk of every text: what the embeddings depend on
(besides the encoder and clip skip)."""

MEAN_FLOOR = 1e-6  # relative to the mean magnitude: below it a chunk's mean counts as zero

Embed = Callable[[Any, list[list[PromptChunk]], int], Any]
"""(pipeline, chunks per text, clip skip) -> embeddings of shape (texts, 77 * chunks, width)."""


def load_tokenizer(entry: ModelEntry) -> Any:
    """The CLIP tokenizer of a checkpoint, without loading its weights (for token counts)."""
    from transformers import CLIPTokenizer

    from studio.pipeline.loader import config_folder_for

    folder = entry.path if entry.format == "diffusers" else config_folder_for(entry.path)
    return CLIPTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)


def special_tokens(tokenizer: Any) -> SpecialTokens:
    pad = tokenizer.pad_token_id
    return SpecialTokens(
        start=tokenizer.bos_token_id,
        end=tokenizer.eos_token_id,
        pad=tokenizer.eos_token_id if pad is None else pad,
        comma=tokenizer.get_vocab().get(",</w>"),
        chunk_length=min(CHUNK_LENGTH, int(tokenizer.model_max_length) - 2),
    )


def tokenize_function(tokenizer: Any) -> Callable[[list[str]], Sequence[Sequence[int]]]:
    def tokenize(texts: list[str]) -> Sequence[Sequence[int]]:
        return tokenizer(texts, truncation=False, add_special_tokens=False)["input_ids"]

    return tokenize


def chunk_texts(tokenizer: Any, texts: Sequence[str]) -> list[list[PromptChunk]]:
    """The chunks of each text, with A1111's attention weights."""
    tokenize = tokenize_function(tokenizer)
    special = special_tokens(tokenizer)
    return [chunk_prompt(parse_attention(text), tokenize, special)[0] for text in texts]


def chunk_key(chunked: list[list[PromptChunk]]) -> ChunkKey:
    return tuple((tuple(c.tokens), tuple(c.weights)) for chunks in chunked for c in [*chunks, _SEPARATOR])


_SEPARATOR = PromptChunk()  # marks where one text's chunks end in a ChunkKey


def encode_chunks(pipe: Any, chunked: list[list[PromptChunk]], clip_skip: int) -> Any:
    """Embeddings (texts, 77 * chunks, width) of the chunked texts of ONE prompt."""
    import torch

    encoder = pipe.text_encoder
    final_norm = getattr(encoder, "text_model", encoder).final_layer_norm
    blank = empty_chunk(special_tokens(pipe.tokenizer))
    count = max(len(chunks) for chunks in chunked)
    pieces = []
    for index in range(count):
        batch = [chunks[index] if index < len(chunks) else blank for chunks in chunked]
        tokens = torch.tensor([chunk.tokens for chunk in batch], device=encoder.device)
        output = encoder(tokens, output_hidden_states=True)
        z = apply_emphasis(final_norm(output.hidden_states[-clip_skip]), [chunk.weights for chunk in batch])
        pieces.append(z.to(dtype=encoder.dtype))
    return torch.cat(pieces, dim=1)


def apply_emphasis(z: Any, weights: list[list[float]]) -> Any:
    """A1111's "Original" emphasis on one chunk's vectors (texts, tokens, width): each token's
    vector times its weight, the whole rescaled to the mean it had before weighting."""
    import torch

    if not any(weight != 1.0 for row in weights for weight in row):
        return z
    multipliers = torch.tensor(weights, dtype=torch.float32, device=z.device)
    original_mean = z.mean()
    weighted = z * multipliers.unsqueeze(-1)
    new_mean = weighted.mean()
    # A mean that is zero to float precision (a final layer norm without bias, as in the
    # tiny test models) makes the rescale meaningless noise: then it is left out.
    floor = MEAN_FLOOR * z.abs().mean()
    if original_mean.abs() > floor and new_mean.abs() > floor:
        weighted = weighted * (original_mean / new_mean)
    return weighted


@dataclass
class ScheduledEmbeds:
    """One prompt part's embeddings over the steps."""

    schedule: list[ScheduledText]
    embeds: Any  # (len(schedule), tokens, width)
    weight: float = 1.0

    def at(self, step_index: int) -> Any:
        """The embeddings (1, tokens, width) sampling step `step_index` (0-based) uses."""
        index = text_for_step(self.schedule, step_index)
        return self.embeds[index : index + 1]


@dataclass
class PromptConditioning:
    """The embeddings of a prompt (its AND parts) and its negative prompt at every step."""

    parts: list[ScheduledEmbeds]
    negative: ScheduledEmbeds

    @property
    def composable(self) -> bool:
        """Several AND parts, or one with a weight: the guidance combines them (UNet hooks)."""
        return len(self.parts) > 1 or self.parts[0].weight != 1.0

    @property
    def scheduled(self) -> bool:
        return any(len(part.schedule) > 1 for part in [*self.parts, self.negative])

    def pipeline_kwargs(self) -> dict[str, Any]:
        """A diffusers SD pipeline's arguments for the first step's embeddings (diffusers
        repeats them per image) and, when the text changes during sampling, the tensor the
        step callback must be handed."""
        kwargs: dict[str, Any] = {
            "prompt": None,
            "negative_prompt": None,
            "prompt_embeds": self.parts[0].at(0),
            "negative_prompt_embeds": self.negative.at(0),
        }
        if self.scheduled and not self.composable:
            kwargs["callback_on_step_end_tensor_inputs"] = ["latents", "prompt_embeds"]
        return kwargs

    def on_step_end(self, pipeline: Any, step_index: int, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        """Put the next step's embeddings into the pipeline's `prompt_embeds` (the negative and
        positive ones, each repeated per image, when classifier-free guidance is on).
        Composable prompts get theirs from `unet_hooks` instead."""
        if not self.scheduled or self.composable:
            return callback_kwargs
        current = callback_kwargs["prompt_embeds"]
        positive, negative = self.parts[0].at(step_index + 1), self.negative.at(step_index + 1)
        guided = pipeline.do_classifier_free_guidance
        images = current.shape[0] // (2 if guided else 1)
        parts = [negative, positive] if guided else [positive]
        import torch

        embeds = torch.cat([part.repeat(images, 1, 1) for part in parts])
        callback_kwargs["prompt_embeds"] = embeds.to(device=current.device, dtype=current.dtype)
        return callback_kwargs

    def unet_hooks(self, pipe: Any) -> AbstractContextManager[Any]:
        """Around a pipeline call: for composable prompts, hooks on its UNet that evaluate every
        part and hand diffusers' guidance their weighted sum (nothing otherwise)."""
        if not self.composable:
            return nullcontext()
        from studio.pipeline.composable_guidance import composable_guidance

        return composable_guidance(pipe.unet, self.parts, self.negative)


def build_conditioning(
    pipe: Any, prompt: str, negative_prompt: str, steps: int, clip_skip: int, embed: Embed
) -> PromptConditioning:
    """Parse both prompts for `steps` steps and encode them with `embed` (a cache's, or
    `encode_chunks`). Raises RequestError naming the prompt whose weights cannot be read.

    Lengths as A1111 makes them: parts of different lengths are extended by repeating their
    last token vector; the negative prompt and the parts by the empty prompt's chunk."""
    import torch

    def encode(schedule: list[ScheduledText]) -> Any:
        return embed(pipe, chunk_texts(pipe.tokenizer, [entry.text for entry in schedule]), clip_skip)

    try:
        parsed = parse_prompt(prompt, steps)
    except PromptSyntaxError as error:  # a wildcard can bring syntax the request check never saw
        raise RequestError("prompt", str(error)) from None
    try:
        [negative_part] = parse_prompt(negative_prompt, steps, positive=False)
    except PromptSyntaxError as error:
        raise RequestError("negative_prompt", str(error)) from None
    parts = [ScheduledEmbeds(p.schedule, encode(p.schedule), p.weight) for p in parsed]
    negative = ScheduledEmbeds(negative_part.schedule, encode(negative_part.schedule))
    longest = max(part.embeds.shape[1] for part in parts)
    for part in parts:
        if part.embeds.shape[1] < longest:
            last = part.embeds[:, -1:].expand(-1, longest - part.embeds.shape[1], -1)
            part.embeds = torch.cat([part.embeds, last], dim=1)
    length = max(longest, negative.embeds.shape[1])
    blank = None
    for item in [*parts, negative]:
        if item.embeds.shape[1] < length:
            if blank is None:
                blank = embed(pipe, [[empty_chunk(special_tokens(pipe.tokenizer))]], clip_skip)
            repeats = (length - item.embeds.shape[1]) // blank.shape[1]
            item.embeds = torch.cat(
                [item.embeds, blank.expand(item.embeds.shape[0], -1, -1).repeat(1, repeats, 1)], dim=1
            )
    return PromptConditioning(parts, negative)
