"""The progress area: turns a `JobView` into the bar text (queue position, step, ETA)."""

from __future__ import annotations

import html
import time

from studio.ui.backend import JobView

IDLE_HTML = '<div class="atelier-progress-idle" id="{prefix}_progress_idle"></div>'


def format_duration(seconds: float) -> str:
    seconds = round(seconds)
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def progress_text(view: JobView) -> str:
    """One line: what the job is doing now, as the progress bar labels it."""
    if view.state == "queued":
        ahead = view.position
        return f"Queued: {ahead} job{'s' if ahead != 1 else ''} ahead" if ahead else "Queued: starting…"
    if view.state == "running":
        if not view.steps:
            return "Loading…"
        parts = [f"Step {view.step}/{view.steps}"]
        if view.image_count > 1:
            parts.append(f"image {min(view.image_index + 1, view.image_count)}/{view.image_count}")
        parts.append(f"{view.progress * 100:.0f}%")
        if view.eta is not None:
            parts.append(f"ETA {format_duration(view.eta)}")
        return " · ".join(parts)
    count = len(view.images)
    images = f"{count} image{'s' if count != 1 else ''}"
    if view.state == "done":
        took = ""
        if view.started_at is not None:
            took = f" in {format_duration((view.finished_at or time.time()) - view.started_at)}"
        return f"Done: {images}{took}"
    if view.state in ("interrupted", "cancelled"):
        return f"Interrupted: {images} kept" if count else "Interrupted"
    return f"Failed: {view.error or 'unknown error'}"


def warnings_html(view: JobView, prefix: str) -> str:
    """The cost check's warnings under the bar (empty when there are none)."""
    if not view.warnings:
        return ""
    items = "".join(f"<li>{html.escape(warning)}</li>" for warning in view.warnings)
    return f'<ul class="atelier-warnings" id="{prefix}_warnings">{items}</ul>'


def runtime_html(view: JobView, prefix: str) -> str:
    """What a finished job ran with (device, dtypes, memory strategies), under the bar."""
    if not (view.finished and view.runtime):
        return ""
    return f'<div class="atelier-runtime" id="{prefix}_runtime">{html.escape(view.runtime)}</div>'


def progress_html(view: JobView, prefix: str) -> str:
    text = html.escape(progress_text(view))
    if view.state == "failed":
        return (
            f'<div class="atelier-progress-idle atelier-error" id="{prefix}_progress" data-state="failed">'
            f'<span id="{prefix}_progress_text">{text}</span>{warnings_html(view, prefix)}</div>'
        )
    fraction = 1.0 if view.finished else view.progress
    width = f"{fraction * 100:.1f}%"
    return (
        f'<div class="atelier-progress" id="{prefix}_progress" data-state="{view.state}"'
        f' data-progress="{fraction * 100:.0f}">'
        f'<div class="bar" style="width:{width}"></div>'
        f'<div class="text" id="{prefix}_progress_text">{text}</div></div>{warnings_html(view, prefix)}'
        f"{runtime_html(view, prefix)}"
    )


def message_html(prefix: str, message: str, *, error: bool = False) -> str:
    css = "atelier-progress-idle atelier-error" if error else "atelier-progress-idle"
    state = "failed" if error else "idle"
    return (
        f'<div class="{css}" id="{prefix}_progress" data-state="{state}">'
        f'<span id="{prefix}_progress_text">{html.escape(message)}</span></div>'
    )
