"""The output side of a generation tab: progress, live preview, gallery, infotext and its buttons.

Also the handlers that follow a job: `generate_handler` submits the request built from the form
to the job queue and streams `JobView`s into the progress area until the job ends; the page
keeps working meanwhile (every handler here runs without a concurrency limit, the job queue is
what serialises the work).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.processing_utils import save_bytes_to_cache
from gradio.utils import get_upload_folder

from studio.jobs import JobError
from studio.request import ImageRecord, RequestError
from studio.ui.assets import COPY_TEXT_JS
from studio.ui.backend import JobView, UIBackend
from studio.ui.controls import GenerationForm, request_from_values
from studio.ui.model_family import request_values
from studio.ui.progress import IDLE_HTML, message_html, progress_html

POLL_SECONDS = 0.5


class SessionJobs:
    """Which job each browser session (and tab prefix) is following, for Interrupt and Skip."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str], str] = {}

    def set(self, session: str, prefix: str, job_id: str) -> None:
        with self._lock:
            self._jobs[(session, prefix)] = job_id

    def get(self, session: str, prefix: str) -> str | None:
        with self._lock:
            return self._jobs.get((session, prefix))

    def clear(self, session: str, prefix: str, job_id: str) -> None:
        with self._lock:
            if self._jobs.get((session, prefix)) == job_id:
                del self._jobs[(session, prefix)]


@dataclass
class OutputPanel:
    prefix: str
    progress: gr.HTML
    preview: gr.Image
    gallery: gr.Gallery
    images: gr.State  # list of {"path", "seed", "infotext"} for the gallery's images
    selected: gr.State  # index of the selected gallery image
    infotext: gr.Textbox
    open_folder: gr.Button
    send_img2img: gr.Button
    send_inpaint: gr.Button
    reuse_seed: gr.Button
    copy_parameters: gr.Button
    message: gr.Markdown
    job_id: gr.Textbox  # hidden: the job this page follows, mirrored into the browser's localStorage

    @property
    def outputs(self) -> list[Any]:
        """What following a job updates (Generate, and reattaching after a reload)."""
        return [
            self.progress,
            self.preview,
            self.gallery,
            self.images,
            self.selected,
            self.infotext,
            self.job_id,
        ]


def image_file(record: ImageRecord, index: int) -> str:
    """A path Gradio may serve for the image: the PNG bytes (infotext included) in its cache."""
    name = f"{index:03d}-{record.seed}.png"
    return save_bytes_to_cache(record.png, name, get_upload_folder())


def gallery_entries(records: list[ImageRecord]) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    entries, images = [], []
    for index, record in enumerate(records):
        path = image_file(record, index)
        entries.append((path, f"seed {record.seed}"))
        images.append({"path": path, "saved": record.path, "seed": record.seed, "infotext": record.infotext})
    return entries, images


def build_output_panel(prefix: str) -> OutputPanel:
    progress = gr.HTML(IDLE_HTML.format(prefix=prefix), elem_id=f"{prefix}_progress_area", padding=False)
    preview = gr.Image(
        label="Live preview", visible=False, interactive=False, elem_id=f"{prefix}_preview", height=256
    )
    gallery = gr.Gallery(
        label="Output",
        elem_id=f"{prefix}_gallery",
        columns=2,
        height="auto",  # a fixed height cropped the bottom of a square image in the preview
        object_fit="contain",
        interactive=False,
        format="png",
    )
    with gr.Row():
        open_folder = gr.Button("Open folder", size="sm", elem_id=f"{prefix}_open_folder")
        send_img2img = gr.Button("To img2img", size="sm", elem_id=f"{prefix}_send_img2img")
        send_inpaint = gr.Button("To inpaint", size="sm", elem_id=f"{prefix}_send_inpaint")
        reuse_seed = gr.Button("Reuse seed", size="sm", elem_id=f"{prefix}_output_reuse_seed")
        copy_parameters = gr.Button("Copy parameters", size="sm", elem_id=f"{prefix}_copy_parameters")
    infotext = gr.Textbox(
        label="Generation parameters",
        lines=4,
        interactive=False,
        elem_id=f"{prefix}_infotext",
        buttons=["copy"],
    )
    message = gr.Markdown("", elem_id=f"{prefix}_message")
    job_id = gr.Textbox("", visible=False, elem_id=f"{prefix}_job_id")
    panel = OutputPanel(
        prefix=prefix,
        progress=progress,
        preview=preview,
        gallery=gallery,
        images=gr.State([]),
        selected=gr.State(0),
        infotext=infotext,
        open_folder=open_folder,
        send_img2img=send_img2img,
        send_inpaint=send_inpaint,
        reuse_seed=reuse_seed,
        copy_parameters=copy_parameters,
        message=message,
        job_id=job_id,
    )
    # The followed job's id survives a reload in localStorage; cleared when its result is shown.
    job_id.change(
        None, job_id, None, js=f"(id) => {{ localStorage.setItem({job_key(prefix)!r}, id || ''); }}"
    )

    def on_select(images: list[dict[str, Any]], evt: gr.SelectData) -> tuple[int, str]:
        index = evt.index if isinstance(evt.index, int) else 0
        if not images or index >= len(images):
            return 0, ""
        return index, images[index]["infotext"]

    gallery.select(on_select, [panel.images], [panel.selected, infotext], queue=False, show_progress="hidden")
    copy_parameters.click(None, [infotext], None, js=COPY_TEXT_JS)
    return panel


def selected_image(images: list[dict[str, Any]], selected: int) -> dict[str, Any] | None:
    if not images:
        return None
    return images[selected] if 0 <= selected < len(images) else images[0]


def open_folder(path: Path, environ: Mapping[str, str] | None = None) -> str:
    """Open `path` in the desktop's file manager; the message says what happened.

    On Linux a server without a display (no DISPLAY / WAYLAND_DISPLAY) has no file manager to
    show: say so instead of claiming success. The child is reaped by a waiting thread.
    """
    environ = os.environ if environ is None else environ
    path.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":
        command = ["explorer", str(path)]
    elif sys.platform == "darwin":
        command = ["open", str(path)]
    else:
        if not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")):
            return f"The server has no desktop display to open a folder on; outputs are in `{path}`"
        opener = shutil.which("xdg-open", path=environ.get("PATH"))
        if opener is None:
            return f"No file manager launcher (xdg-open) on the server; outputs are in `{path}`"
        command = [opener, str(path)]
    try:
        child = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(environ)
        )
    except OSError as error:
        return f"Could not open a file manager ({error}); outputs are in `{path}`"
    threading.Thread(target=child.wait, name="open-folder-reaper", daemon=True).start()
    return f"Asked the file manager to open `{path}`"


def job_key(prefix: str) -> str:
    """The localStorage key that keeps the id of the job a tab's page follows."""
    return f"atelier-job-{prefix}"


def follow(backend: UIBackend, job_id: str) -> Iterator[JobView]:
    view = backend.job(job_id)
    yield view
    while not view.finished:
        view = backend.wait(job_id, timeout=POLL_SECONDS)
        yield view


def stream_job(
    backend: UIBackend, panel: OutputPanel, sessions: SessionJobs, session: str, job_id: str
) -> Iterator[dict[Any, Any]]:
    """Follow `job_id` into the panel: progress and preview, then the images and their infotext.

    While it streams, Interrupt and Skip of this session reach the job. The last update clears
    the job id (and so the browser's copy): the result has been shown.
    """
    prefix = panel.prefix
    sessions.set(session, prefix, job_id)
    try:
        view = None
        for view in follow(backend, job_id):
            update: dict[Any, Any] = {panel.progress: progress_html(view, prefix)}
            if view.preview is not None and not view.finished:
                update[panel.preview] = gr.update(value=view.preview, visible=True)
            yield update
    finally:
        sessions.clear(session, prefix, job_id)
    assert view is not None
    entries, images = gallery_entries(list(view.images))
    yield {
        panel.progress: progress_html(view, prefix),
        panel.preview: gr.update(value=None, visible=False),
        panel.gallery: entries,
        panel.images: images,
        panel.selected: 0,
        panel.infotext: images[0]["infotext"] if images else "",
        panel.job_id: "",
    }


def reattach_handler(
    backend: UIBackend, panel: OutputPanel, sessions: SessionJobs
) -> Callable[..., Iterator[dict[Any, Any]]]:
    """At page load: follow again the job the page had started before a reload (A1111 1.6+).

    Its id comes from the browser's localStorage; a job that finished meanwhile shows its result.
    """

    def reattach(job_id: str | None, request: gr.Request) -> Iterator[dict[Any, Any]]:
        job_id = (job_id or "").strip()
        if not job_id:
            return
        try:
            backend.job(job_id)
        except JobError:  # an unknown (or pruned) job: forget it
            yield {panel.job_id: ""}
            return
        yield {panel.job_id: job_id}
        yield from stream_job(backend, panel, sessions, request.session_hash or "", job_id)

    return reattach


def generate_handler(
    backend: UIBackend,
    form: GenerationForm,
    panel: OutputPanel,
    sessions: SessionJobs,
    extra_fields: Callable[[Mapping[Any, Any]], dict[str, Any]] | None = None,
) -> Callable[..., Iterator[dict[Any, Any]]]:
    """The Generate click: build the request, queue it, stream progress, show the images."""
    prefix = form.prefix

    def run(data: dict[Any, Any], request: gr.Request) -> Iterator[dict[Any, Any]]:
        try:
            extra = extra_fields(data) if extra_fields else {}
            generation = request_from_values(request_values(backend, form.values(data)), **extra)
            job_id = backend.submit(generation)
        except (RequestError, ValueError, TypeError) as error:
            yield {panel.progress: message_html(prefix, f"Cannot generate: {error}", error=True)}
            return
        yield {panel.job_id: job_id}
        yield from stream_job(backend, panel, sessions, request.session_hash or "", job_id)

    return run


def wire_generation(
    backend: UIBackend,
    form: GenerationForm,
    panel: OutputPanel,
    sessions: SessionJobs,
    extra_inputs: set[Any] | None = None,
    extra_fields: Callable[[Mapping[Any, Any]], dict[str, Any]] | None = None,
) -> None:
    """Generate / Interrupt / Skip / reuse-seed events of one tab."""
    assert form.generate and form.interrupt and form.skip and form.reuse_seed
    form.generate.click(
        generate_handler(backend, form, panel, sessions, extra_fields),
        inputs=form.inputs | (extra_inputs or set()),
        outputs=panel.outputs,
        concurrency_limit=None,
        show_progress="hidden",
    )
    prefix = form.prefix

    def interrupt(request: gr.Request) -> None:
        job_id = sessions.get(request.session_hash or "", prefix)
        if job_id:
            backend.interrupt(job_id)

    def skip(request: gr.Request) -> None:
        job_id = sessions.get(request.session_hash or "", prefix)
        if job_id:
            backend.skip(job_id)

    form.interrupt.click(interrupt, None, None, concurrency_limit=None, show_progress="hidden")
    form.skip.click(skip, None, None, concurrency_limit=None, show_progress="hidden")

    def last_seed(images: list[dict[str, Any]], selected: int) -> Any:
        image = selected_image(images, selected)
        return image["seed"] if image else gr.update()

    form.reuse_seed.click(
        last_seed, [panel.images, panel.selected], form.fields["seed"], show_progress="hidden"
    )
    panel.reuse_seed.click(
        last_seed, [panel.images, panel.selected], form.fields["seed"], show_progress="hidden"
    )
    panel.open_folder.click(
        lambda: open_folder(backend.config.outputs_path), None, panel.message, show_progress="hidden"
    )
