"""The prompt language as a whole: what a prompt stands for at each sampling step.

`parse_prompt` goes the way A1111 does: the positive prompt is split on `AND` (composable
prompts; we support a single part, optionally with a trailing `:weight` that scales the
guidance), each part is scheduled over the steps (`[from:to:when]`, `[a|b]`), and each
scheduled text is later parsed for attention weights and cut into chunks when it is encoded.
`check_prompt` raises a `RequestError` naming the field for what we cannot honour.
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
class ParsedPrompt:
    schedule: list[ScheduledText]
    guidance_weight: float = 1.0  # the trailing `:weight` of a positive prompt (A1111 AND syntax)


@dataclass(frozen=True)
class TokenCount:
    tokens: int  # of the longest text the prompt stands for at any step
    capacity: int  # 75 per chunk it fills


def parse_prompt(prompt: str, steps: int, positive: bool = True) -> ParsedPrompt:
    """Raises PromptSyntaxError for what cannot be used (see `check_prompt`)."""
    if not positive:
        schedule = prompt_schedule(prompt, steps)
        _check_weights(schedule)
        return ParsedPrompt(schedule)
    parts = split_composable(prompt)
    if len(parts) > 1:
        raise PromptSyntaxError(
            f"composable prompts (AND, {len(parts)} parts) are not supported; write the parts "
            "as one prompt, or write 'and' in lower case if you meant the word"
        )
    schedule = prompt_schedule(parts[0].text, steps)
    _check_weights(schedule)
    return ParsedPrompt(schedule, parts[0].weight)


def check_prompt(prompt: str, negative_prompt: str, steps: int) -> None:
    """Raise RequestError(`prompt` or `negative_prompt`) when a prompt cannot be used."""
    for field_name, text, positive in (("prompt", prompt, True), ("negative_prompt", negative_prompt, False)):
        try:
            parse_prompt(text, steps, positive)
        except PromptSyntaxError as error:
            raise RequestError(field_name, str(error)) from None


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


def _check_weights(schedule: list[ScheduledText]) -> None:
    for entry in schedule:
        parse_attention(entry.text)
