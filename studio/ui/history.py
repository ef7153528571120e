"""The History tab: every image in the history database, paged, searchable by prompt."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.processing_utils import save_bytes_to_cache
from gradio.utils import get_upload_folder

from studio.ui.backend import HistoryItem, UIBackend

PAGE_SIZE = 24


@dataclass
class HistoryTab:
    search: gr.Textbox
    gallery: gr.Gallery
    items: gr.State  # [{"id", "infotext", "path"}] for the page shown
    selected: gr.State
    infotext: gr.Textbox
    load_parameters: gr.Button
    send_img2img: gr.Button
    refresh: Any  # a callable event target: (query, page) -> updates


def _thumbnail(item: HistoryItem) -> str | None:
    """A servable copy of the saved image, or None if the file is gone."""
    if not item.path:
        return None
    path = Path(item.path)
    if not path.is_file():
        return None
    return save_bytes_to_cache(
        path.read_bytes(), f"history-{item.id}{path.suffix or '.png'}", get_upload_folder()
    )


def page_count(total: int) -> int:
    return max(1, math.ceil(total / PAGE_SIZE))


def build_history_tab(backend: UIBackend) -> HistoryTab:
    with gr.Row(equal_height=True):
        search = gr.Textbox(
            label="Search prompts",
            placeholder="words in the prompt, Enter to search",
            elem_id="history_search",
            scale=4,
        )
        search_button = gr.Button("Search", size="sm", elem_id="history_search_button", scale=0, min_width=90)
        previous = gr.Button("◀ Previous", size="sm", elem_id="history_previous", scale=0, min_width=110)
        following = gr.Button("Next ▶", size="sm", elem_id="history_next", scale=0, min_width=90)
    page_label = gr.Markdown("", elem_id="history_page_label")
    page = gr.State(0)
    with gr.Row():
        with gr.Column(scale=3):
            gallery = gr.Gallery(
                label="History",
                elem_id="history_gallery",
                columns=6,
                height=520,
                interactive=False,
                format="png",
            )
        with gr.Column(scale=2):
            infotext = gr.Textbox(
                label="Generation parameters",
                lines=8,
                interactive=False,
                elem_id="history_infotext",
                buttons=["copy"],
            )
            with gr.Row():
                load_parameters = gr.Button(
                    "Load parameters into txt2img", variant="primary", elem_id="history_load_parameters"
                )
                send_img2img = gr.Button("Send to img2img", elem_id="history_send_img2img")
    items = gr.State([])
    selected = gr.State(-1)

    def show(query: str, page_number: int) -> tuple[Any, ...]:
        query = (query or "").strip() or None
        entries, total = backend.history_page(page_number * PAGE_SIZE, PAGE_SIZE, query)
        pages = page_count(total)
        if page_number >= pages and total:
            return show(query or "", pages - 1)
        shown, rows = [], []
        for item in entries:
            thumbnail = _thumbnail(item)
            if thumbnail is None:
                continue
            shown.append((thumbnail, f"#{item.id} · seed {item.seed} · {item.prompt[:60]}"))
            rows.append({"id": item.id, "infotext": item.infotext, "path": thumbnail, "saved": item.path})
        label = f"Page {page_number + 1} of {pages} · {total} image{'s' if total != 1 else ''}"
        first = rows[0]["infotext"] if rows else ""
        return shown, rows, page_number, label, first, 0 if rows else -1

    outputs = [gallery, items, page, page_label, infotext, selected]
    search_button.click(lambda q: show(q, 0), search, outputs, show_progress="hidden")
    search.submit(lambda q: show(q, 0), search, outputs, show_progress="hidden")
    previous.click(lambda q, p: show(q, max(0, p - 1)), [search, page], outputs, show_progress="hidden")
    following.click(lambda q, p: show(q, p + 1), [search, page], outputs, show_progress="hidden")

    def on_select(rows: list[dict[str, Any]], evt: gr.SelectData) -> tuple[int, str]:
        index = evt.index if isinstance(evt.index, int) else -1
        if not 0 <= index < len(rows):
            return -1, ""
        return index, rows[index]["infotext"]

    gallery.select(on_select, items, [selected, infotext], show_progress="hidden")
    return HistoryTab(
        search=search,
        gallery=gallery,
        items=items,
        selected=selected,
        infotext=infotext,
        load_parameters=load_parameters,
        send_img2img=send_img2img,
        refresh=(show, [search, page], outputs),
    )
