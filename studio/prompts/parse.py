"""The prompt language as a whole: what a prompt stands for at each sampling step.

`parse_prompt` goes the way A1111 does: the positive prompt is split on `AND` into composable
parts, each with its `:weight` (1 when none is written); each part is scheduled over the steps
(`[from:to:when]`, `[a|b]`); each scheduled text is later parsed for attention weights and cut
into chunks when it is encoded. The negative prompt is one part, never split.
`check_prompt` raises a `RequestError` naming the field for what cannot be honoured.
`count_tokens` is the token counter under the prompt boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.prompts.attention import PromptSyntaxError, WeightedText, parse_attention
from studio.prompts.chunks import SpecialTokens, Tokenize, chunk_prompt, target_token_count
from studio.prompts.composable import split_composable
from studio.prompts.extra_networks import extract_network_tags
from studio.prompts.schedule import ScheduledText, prompt_schedule
from studio.request import RequestError


@dataclass(frozen=True)
class PromptPart:
    """One composable part: its texts over the steps and its weight in the guidance."""

    schedule: list[ScheduledText]
    weight: float = 1.0


def is_composable(parts: list[PromptPart]) -> bool:
    """Whether guidance must combine parts (several, or one with a weight other than 1)."""
    return len(parts) > 1 or parts[0].weight != 1.0


@dataclass(frozen=True)
class TokenCount:
    tokens: int  # of the longest text the prompt stands for at any step
    capacity: int  # 75 per chunk it fills


def parse_prompt(prompt: str, steps: int, positive: bool = True) -> list[PromptPart]:
    """The parts of a prompt (one for a negative prompt or a prompt without AND). Raises
    PromptSyntaxError for a weight that is not a number."""
    parts = split_composable(prompt) if positive else None
    texts = [(prompt, 1.0)] if parts is None else [(part.text, part.weight) for part in parts]
    parsed = []
    for text, weight in texts:
        schedule = prompt_schedule(text, steps)
        for entry in schedule:
            parse_attention(entry.text)
        parsed.append(PromptPart(schedule, weight))
    return parsed


def check_prompt(prompt: str, negative_prompt: str, steps: int, cfg_scale: float) -> None:
    """Raise RequestError naming `prompt`, `negative_prompt` or `cfg_scale` when the prompts
    cannot be used as asked."""
    for field_name, text, positive in (("prompt", prompt, True), ("negative_prompt", negative_prompt, False)):
        try:
            parts = parse_prompt(text, steps, positive)
        except PromptSyntaxError as error:
            raise RequestError(field_name, str(error)) from None
        if positive and is_composable(parts) and cfg_scale <= 1:
            raise RequestError(
                "cfg_scale",
                f"{cfg_scale} turns guidance off, but the prompt's AND parts or :weight need it "
                "(the parts are combined in the guidance): use a CFG scale above 1",
            )


def count_tokens(
    prompt: str, steps: int, tokenize: Tokenize, special: SpecialTokens, positive: bool = True
) -> TokenCount:
    """A1111's counter: extra-network tags left out, the longest text over the schedule (all
    AND parts), in tokens, and the chunk capacity it fills. A text whose weights cannot be read
    counts as typed."""
    text = extract_network_tags(prompt)[0]
    parts = [part.text for part in split_composable(text)] if positive else [text]
    count = 0
    for part in parts:
        for entry in prompt_schedule(part, steps):
            try:
                pieces = parse_attention(entry.text)
            except PromptSyntaxError:
                pieces = [WeightedText(entry.text, 1.0)]
            count = max(count, chunk_prompt(pieces, tokenize, special)[1])
    return TokenCount(count, target_token_count(count))
