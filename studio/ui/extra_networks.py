"""The Extra Networks panel under a tab's prompts: Checkpoints, LoRA, Embeddings and Wildcards as
cards with their preview, name and trigger words, a search box, and a Refresh button.

Clicking a card works in the browser (`assets.EXTRA_NETWORKS_JS`): a LoRA card puts
`<lora:name:weight> trigger words` at the cursor of the prompt (its negative text at the end of
the negative prompt), an embedding or wildcard card puts its name in the prompt box used last,
and a checkpoint card selects that checkpoint (through a hidden box the server listens to).
The search filters the cards in the browser as you type.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import gradio as gr

from studio.network_cards import KINDS, LABELS, NetworkCard, format_weight
from studio.ui.backend import UIBackend
from studio.ui.controls import CURRENT_MODEL, GenerationForm

PREVIEW_URL = "/studio/v1/networks/{kind}/preview?name={name}"


@dataclass
class ExtraNetworksPanel:
    grids: dict[str, gr.HTML]
    search: gr.Textbox
    refresh: gr.Button
    select_checkpoint: gr.Textbox


def card_html(prefix: str, card: NetworkCard) -> str:
    attr = html.escape
    if card.preview is not None:
        url = PREVIEW_URL.format(kind=card.kind, name=quote(card.title, safe=""))
        picture = f'<img src="{attr(url)}" alt="" loading="lazy">'
    else:
        picture = f'<div class="atelier-card-blank">{attr(card.name[:2].upper())}</div>'
    details = []
    if card.weight is not None:
        details.append(f'<span class="atelier-card-weight">{attr(format_weight(card.weight))}</span>')
    if card.trigger_words:
        details.append(f'<span class="atelier-card-words">{attr(card.trigger_words)}</span>')
    if card.errors:
        details.append(f'<span class="atelier-error">{attr("; ".join(card.errors))}</span>')
    tooltip = "\n".join(
        part
        for part in (card.title, card.civitai_name, card.base_model, card.description, card.notes)
        if part
    )
    search = " ".join(
        (card.name, card.title, card.trigger_words, card.description, card.civitai_name)
    ).lower()
    return (
        f'<div class="atelier-card" role="button" tabindex="0" data-tab="{attr(prefix)}" '
        f'data-kind="{attr(card.kind)}" data-name="{attr(card.name)}" data-title="{attr(card.title)}" '
        f'data-prompt="{attr(card.prompt)}" data-negative="{attr(card.negative_prompt)}" '
        f'data-search="{attr(search)}" title="{attr(tooltip)}">'
        f'{picture}<div class="atelier-card-name">{attr(card.name)}</div>{"".join(details)}</div>'
    )


def grid_html(prefix: str, kind: str, cards: list[NetworkCard]) -> str:
    if not cards:
        where = {
            "checkpoint": "models/Stable-diffusion or models/Diffusers",
            "lora": "models/Lora",
            "embedding": "models/embeddings",
            "wildcard": "wildcards/ in the data dir (one value a line, name.txt)",
        }[kind]
        return f'<div class="atelier-cards-empty">Nothing here yet: add files to {html.escape(where)}, then Refresh.</div>'
    return (
        f'<div class="atelier-cards" data-kind="{kind}">{"".join(card_html(prefix, c) for c in cards)}</div>'
    )


def build_extra_networks(backend: UIBackend, prefix: str) -> ExtraNetworksPanel:
    grids: dict[str, gr.HTML] = {}
    with gr.Accordion("Extra networks", open=False, elem_id=f"{prefix}_extra_networks"):
        with gr.Row(equal_height=True):
            search = gr.Textbox(
                placeholder="Search names, trigger words, descriptions",
                show_label=False,
                elem_id=f"{prefix}_network_search",
                elem_classes="atelier-network-search",
                scale=5,
            )
            refresh = gr.Button(
                "Refresh", elem_id=f"{prefix}_network_refresh", elem_classes="atelier-tool", scale=0
            )
        with gr.Tabs(elem_id=f"{prefix}_network_tabs"):
            for kind in KINDS:
                with gr.Tab(
                    LABELS[kind], id=f"{prefix}_networks_{kind}", elem_id=f"{prefix}_networks_{kind}"
                ):
                    grids[kind] = gr.HTML(
                        grid_html(prefix, kind, backend.network_cards(kind)),
                        elem_id=f"{prefix}_cards_{kind}",
                        padding=False,
                    )
        # a checkpoint card writes its title here; the server then selects it in the picker
        select_checkpoint = gr.Textbox(
            elem_id=f"{prefix}_network_select", elem_classes="atelier-hidden", show_label=False
        )

    def on_refresh() -> list[str]:
        backend.refresh_models()
        return [grid_html(prefix, kind, backend.network_cards(kind)) for kind in KINDS]

    refresh.click(on_refresh, None, [grids[kind] for kind in KINDS], show_progress="hidden")

    return ExtraNetworksPanel(grids, search, refresh, select_checkpoint)


def connect_checkpoint_cards(panel: ExtraNetworksPanel, backend: UIBackend, form: GenerationForm) -> None:
    """A checkpoint card's click selects it in the form's Checkpoint picker."""

    def on_select(value: str) -> Any:
        title = (value or "").split("\n", 1)[0]
        checkpoints = [CURRENT_MODEL, *backend.checkpoints()]
        if title not in checkpoints:
            return gr.update(choices=checkpoints)
        return gr.update(choices=checkpoints, value=title)

    panel.select_checkpoint.change(
        on_select, panel.select_checkpoint, form.fields["model"], show_progress="hidden"
    )
