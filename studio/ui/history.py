"""The History tab: every image in the history database, paged, searched (prompt and infotext),
filtered by model / mode / date / kind, and deleted (file and row, after a confirmation).
X/Y/Z grids are entries of their own (kind "grid"): selecting one and clicking Open cells lists
the images of its cells; Back to all returns to the whole history."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.processing_utils import save_bytes_to_cache
from gradio.utils import get_upload_folder

from studio.history import KINDS, MODES, HistoryFilter
from studio.ui.backend import HistoryItem, UIBackend

ALL_MODES = "All"
ALL_KINDS = "All"
KIND_LABELS = {"image": "Images", "grid": "X/Y/Z grids"}  # the Kind filter's choices

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


def history_filter(
    model: str | None,
    mode: str | None,
    since: str | None,
    kind: str | None = None,
    grid_id: int | None = None,
) -> HistoryFilter:
    """The filter from the widgets (`kind` as the Kind filter labels it; `grid_id`: the grid
    whose cells are open); ValueError naming every bad field."""
    errors, start = [], None
    since = (since or "").strip()
    if since:
        try:
            start = time.mktime(time.strptime(since, "%Y-%m-%d"))
        except ValueError:
            errors.append(f"since: expected a date as YYYY-MM-DD, got {since!r}")
    if mode not in (None, "", ALL_MODES, *MODES):
        errors.append(f"mode: expected one of {ALL_MODES}, {', '.join(MODES)}, got {mode!r}")
    kinds = {label: name for name, label in KIND_LABELS.items()}
    if kind not in (None, "", ALL_KINDS, *kinds, *KINDS):
        errors.append(f"kind: expected one of {ALL_KINDS}, {', '.join(kinds)}, got {kind!r}")
    if errors:
        raise ValueError("; ".join(errors))
    return HistoryFilter(
        model=(model or "").strip() or None,
        mode=None if mode in (None, "", ALL_MODES) else mode,
        since=start,
        # a grid's cells are images: the Kind filter does not apply while they are open
        kind=None if kind in (None, "", ALL_KINDS) or grid_id is not None else kinds.get(kind, kind),
        grid_id=grid_id,
    )


def model_names(titles: list[str]) -> list[str]:
    """Checkpoint titles ("tiny [e8e2d9d64d]") as the infotext names them ("tiny")."""
    return sorted({re.sub(r" \[[0-9a-f]+\]$", "", title) for title in titles})


def build_history_tab(backend: UIBackend) -> HistoryTab:
    with gr.Row(equal_height=True):
        search = gr.Textbox(
            label="Search",
            placeholder="part of the prompt or of the parameters (Heun, a seed, a model), Enter to search",
            elem_id="history_search",
            scale=4,
        )
        search_button = gr.Button("Search", size="sm", elem_id="history_search_button", scale=0, min_width=90)
        previous = gr.Button("◀ Previous", size="sm", elem_id="history_previous", scale=0, min_width=110)
        following = gr.Button("Next ▶", size="sm", elem_id="history_next", scale=0, min_width=90)
    with gr.Row(equal_height=True):
        model = gr.Dropdown(
            ["", *model_names(backend.checkpoints())],
            value="",
            label="Model",
            allow_custom_value=True,
            elem_id="history_model",
        )
        mode = gr.Dropdown([ALL_MODES, *MODES], value=ALL_MODES, label="Mode", elem_id="history_mode")
        kind = gr.Dropdown(
            [ALL_KINDS, *KIND_LABELS.values()], value=ALL_KINDS, label="Kind", elem_id="history_kind"
        )
        since = gr.Textbox(label="Since (YYYY-MM-DD)", elem_id="history_since")
    page_label = gr.Markdown("", elem_id="history_page_label")
    page = gr.State(0)
    grid = gr.State(None)  # the id of the grid whose cells are shown, None for the whole history
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
                delete = gr.Button("Delete", variant="stop", elem_id="history_delete")
            with gr.Row():
                open_cells = gr.Button(
                    "Open cells of this grid", visible=False, size="sm", elem_id="history_open_cells"
                )
                back = gr.Button("Back to all", visible=False, size="sm", elem_id="history_back")
            with gr.Row(visible=False) as confirm_row:
                confirm = gr.Button(
                    "Yes, delete the image and its file", variant="stop", elem_id="history_delete_confirm"
                )
                cancel = gr.Button("Keep it", elem_id="history_delete_cancel")
    items = gr.State([])
    selected = gr.State(-1)

    def show(
        query: str,
        page_number: int,
        model_name: str = "",
        mode_name: str = ALL_MODES,
        since_text: str = "",
        kind_name: str = ALL_KINDS,
        grid_id: int | None = None,
    ) -> tuple[Any, ...]:
        query = (query or "").strip() or None
        chosen = (model_name, mode_name, since_text, kind_name, grid_id)
        try:
            filters = history_filter(*chosen)
        except ValueError as error:
            hidden = gr.update(visible=False)
            return (
                [],
                [],
                0,
                f"**Cannot filter** — {error}",
                "",
                -1,
                hidden,
                gr.update(visible=grid_id is not None),
            )
        entries, total = backend.history_page(page_number * PAGE_SIZE, PAGE_SIZE, query, filters)
        pages = page_count(total)
        if page_number >= pages and total:
            return show(query or "", pages - 1, *chosen)
        shown, rows = [], []
        for item in entries:
            thumbnail = _thumbnail(item)
            if thumbnail is None:
                continue
            what = "X/Y/Z grid" if item.kind == "grid" else f"seed {item.seed}"
            shown.append((thumbnail, f"#{item.id} · {what} · {item.prompt[:60]}"))
            rows.append(
                {
                    "id": item.id,
                    "infotext": item.infotext,
                    "path": thumbnail,
                    "saved": item.path,
                    "kind": item.kind,
                }
            )
        label = f"Page {page_number + 1} of {pages} · {total} image{'s' if total != 1 else ''}"
        if grid_id is not None:
            label = f"Cells of grid #{grid_id} · {label}"
        first = rows[0]["infotext"] if rows else ""
        opens = gr.update(visible=bool(rows) and rows[0]["kind"] == "grid")
        return (
            shown,
            rows,
            page_number,
            label,
            first,
            0 if rows else -1,
            opens,
            gr.update(visible=grid_id is not None),
        )

    outputs = [gallery, items, page, page_label, infotext, selected, open_cells, back]
    criteria = [model, mode, since, kind, grid]
    first_page = lambda q, *c: show(q, 0, *c)  # noqa: E731
    search_button.click(first_page, [search, *criteria], outputs, show_progress="hidden")
    search.submit(first_page, [search, *criteria], outputs, show_progress="hidden")
    gr.on(
        [model.change, mode.change, kind.change, since.submit],
        first_page,
        [search, *criteria],
        outputs,
        show_progress="hidden",
    )
    previous.click(
        lambda q, p, *c: show(q, max(0, p - 1), *c),
        [search, page, *criteria],
        outputs,
        show_progress="hidden",
    )
    following.click(
        lambda q, p, *c: show(q, p + 1, *c), [search, page, *criteria], outputs, show_progress="hidden"
    )

    # Delete asks first; the confirmation names nothing else and can be taken back.
    delete.click(
        lambda rows, index: gr.update(visible=0 <= index < len(rows)),
        [items, selected],
        confirm_row,
        show_progress="hidden",
    )
    cancel.click(lambda: gr.update(visible=False), None, confirm_row, show_progress="hidden")

    def on_confirm(rows: list[dict[str, Any]], index: int, query: str, page_number: int, *chosen: Any) -> Any:
        if 0 <= index < len(rows):
            backend.history_delete(int(rows[index]["id"]))
        return (*show(query, page_number, *chosen), gr.update(visible=False))

    confirm.click(
        on_confirm,
        [items, selected, search, page, *criteria],
        [*outputs, confirm_row],
        show_progress="hidden",
    )

    def on_select(rows: list[dict[str, Any]], evt: gr.SelectData) -> tuple[int, str, Any]:
        index = evt.index if isinstance(evt.index, int) else -1
        if not 0 <= index < len(rows):
            return -1, "", gr.update(visible=False)
        return index, rows[index]["infotext"], gr.update(visible=rows[index]["kind"] == "grid")

    gallery.select(on_select, items, [selected, infotext, open_cells], show_progress="hidden")

    # A grid's cells: the history narrowed to them (the other filters are left as they are)
    def on_open_cells(rows: list[dict[str, Any]], index: int, *chosen: Any) -> tuple[Any, ...]:
        grid_id = int(rows[index]["id"]) if 0 <= index < len(rows) and rows[index]["kind"] == "grid" else None
        return (grid_id, *show("", 0, *chosen[:4], grid_id))

    open_cells.click(
        on_open_cells, [items, selected, *criteria[:4]], [grid, *outputs], show_progress="hidden"
    )
    back.click(
        lambda query, *chosen: (None, *show(query, 0, *chosen[:4], None)),
        [search, *criteria[:4]],
        [grid, *outputs],
        show_progress="hidden",
    )
    return HistoryTab(
        search=search,
        gallery=gallery,
        items=items,
        selected=selected,
        infotext=infotext,
        load_parameters=load_parameters,
        send_img2img=send_img2img,
        refresh=(show, [search, page, *criteria], outputs),
    )
