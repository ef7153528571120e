"""The token counter under each prompt box: "tokens/capacity", as A1111 shows it.

The count is A1111's (`studio.prompts.parse.count_tokens`): tokens of the longest text the
prompt stands for over the steps, extra-network tags left out, and the 75-token chunks they
fill (75, 150, ...). It follows the text, the step count and the checkpoint picker, with the
picked checkpoint's tokenizer.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import gradio as gr

from studio.request import RequestError

if TYPE_CHECKING:
    from studio.ui.backend import UIBackend
    from studio.ui.controls import GenerationForm

PROMPT_FIELDS = ("prompt", "negative_prompt")
_EMPTY = (0, 75)


def counter_html(tokens: int, capacity: int, error: str | None = None) -> str:
    if error is not None:
        return f'<span class="atelier-token-counter atelier-error" title="{html.escape(error)}">?/{capacity}</span>'
    return (
        f'<span class="atelier-token-counter" data-tokens="{tokens}" data-capacity="{capacity}">'
        f"{tokens}/{capacity}</span>"
    )


def build_token_counter(form: GenerationForm, field_name: str) -> None:
    """The counter of `field_name`'s box; place it right under that box."""
    suffix = "token_counter" if field_name == "prompt" else "negative_token_counter"
    form.token_counters[field_name] = gr.HTML(
        counter_html(*_EMPTY),
        elem_id=f"{form.prefix}_{suffix}",
        elem_classes="atelier-token-counter-box",
        padding=False,
        min_height=0,
    )


def wire_token_counters(backend: UIBackend, form: GenerationForm, current_model: str) -> None:
    """Recount when a prompt, the steps or the checkpoint change (after `build_parameters`)."""
    steps, model = form.fields["steps"], form.fields["model"]
    for field_name, counter in form.token_counters.items():
        box = form.fields[field_name]

        def count(
            text: str, step_count: Any, picked: str | None, positive: bool = field_name == "prompt"
        ) -> str:
            wanted = None if picked in (None, "", current_model) else picked
            try:
                result = backend.count_tokens(text or "", int(step_count or 20), positive, wanted)
            except RequestError as error:
                return counter_html(0, 75, error.message)
            return counter_html(result.tokens, result.capacity)

        for trigger in (box, steps, model):
            trigger.change(
                count,
                inputs=[box, steps, model],
                outputs=[counter],
                show_progress="hidden",
                trigger_mode="always_last",
                queue=False,
            )
