"""The status line at the top of the page: device, memory in use, queue length, model loaded."""

from __future__ import annotations

import html

import gradio as gr

from studio.ui.backend import StatusView, UIBackend

REFRESH_SECONDS = 2.0


def status_html(status: StatusView) -> str:
    model = html.escape(status.model_loaded or "none")
    # a device that fell back to the CPU is shown as an error, never silently
    fallback = ' class="atelier-error"' if "FALLBACK" in status.device else ""
    return (
        '<div class="atelier-status" id="atelier_status">'
        f'<span{fallback}>Device: <b id="atelier_device">{html.escape(status.device)}</b></span>'
        f"<span>Memory: <b>{html.escape(status.memory_in_use)}</b></span>"
        f'<span>Queue: <b id="atelier_queue_length">{status.queue_length}</b></span>'
        f"<span>Model: <b>{model}</b></span>"
        "</div>"
    )


def build_status_line(backend: UIBackend) -> gr.HTML:
    def current() -> str:
        try:
            return status_html(backend.status())
        except Exception as error:  # the status line must never break the page
            return f'<div class="atelier-status atelier-error">Status unavailable: {html.escape(str(error))}</div>'

    line = gr.HTML(current, elem_id="atelier_status_line", padding=False)
    timer = gr.Timer(REFRESH_SECONDS)
    timer.tick(current, None, line, show_progress="hidden", concurrency_limit=None, queue=False)
    return line
