"""What a request's prompts become before they are encoded: styles first, then the choices and
wildcards of each image, made from that image's seed.

    library = PromptLibrary.for_config(config)
    library.check(request)                       # RequestError: unknown style, missing wildcard
    for image in library.expand(request, seeds):  # one per seed
        image.prompt, image.negative_prompt, image.params   # params: {"Template": ...} or {}

The infotext records the prompt the image was made from; when it came from a template with
choices or wildcards, the template goes beside it as `Template` / `Negative Template`, the
keys the Dynamic Prompts extension writes. Styles leave no key of their own: A1111 records the
styled prompt and PNG Info finds the styles back in it (`StyleLibrary.extract`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from studio.prompts import wildcards
from studio.prompts.styles import StyleLibrary
from studio.prompts.wildcards import WildcardLibrary
from studio.request import GenerationRequest

if TYPE_CHECKING:
    from studio.config import StudioConfig

TEMPLATE = "Template"
NEGATIVE_TEMPLATE = "Negative Template"


@dataclass(frozen=True)
class ImagePrompt:
    prompt: str
    negative_prompt: str
    params: dict[str, Any]  # infotext keys to add (the templates), may be empty


@dataclass(frozen=True)
class PromptLibrary:
    styles: StyleLibrary
    wildcards: WildcardLibrary

    @classmethod
    def for_config(cls, config: StudioConfig) -> PromptLibrary:
        return cls(StyleLibrary(config.styles_file), WildcardLibrary(config.wildcards_path))

    def styled(self, request: GenerationRequest) -> tuple[str, str]:
        """The prompts with the request's styles applied (RequestError naming `styles`)."""
        if not request.styles:
            return request.prompt, request.negative_prompt
        return self.styles.apply(request.prompt, request.negative_prompt, request.styles)

    def check(self, request: GenerationRequest) -> None:
        """RequestError for an unknown style, a malformed template or a missing wildcard."""
        prompt, negative = self.styled(request)
        library = self.wildcards.fresh()
        wildcards.check(prompt, library, "prompt")
        wildcards.check(negative, library, "negative_prompt")

    def expand(self, request: GenerationRequest, seeds: Sequence[int]) -> list[ImagePrompt]:
        """The prompts of each image, in seed order."""
        prompt, negative = self.styled(request)
        params: dict[str, Any] = {}
        if wildcards.is_dynamic(prompt):
            params[TEMPLATE] = prompt
        if wildcards.is_dynamic(negative):
            params[NEGATIVE_TEMPLATE] = negative
        library = self.wildcards.fresh()
        return [
            ImagePrompt(
                wildcards.resolve(prompt, seed, library, "prompt"),
                wildcards.resolve(negative, seed, library, "negative_prompt"),
                dict(params),
            )
            for seed in seeds
        ]
