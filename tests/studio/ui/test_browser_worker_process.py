"""The UI against the engine's worker process (the default `serve` runs): a generation made in
the child shows its progress, live preview and result in the page, and Interrupt reaches it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from studio.config import StudioConfig
from studio.infotext import parse_infotext, read_png_infotext
from studio.worker.process_worker import ProcessWorker
from tests.helpers import make_studio_config
from tests.studio.ui.test_browser import (
    gallery_png,
    open_page,
    progress_text,
    set_number,
    shot,
    small_settings,
    start_generation,
    wait_finished,
    wait_progress,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def ui_config(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> StudioConfig:
    """The module's studio runs its engine in a worker process, as `serve` does by default."""
    return make_studio_config(tmp_path_factory.mktemp("ui-worker"), tiny_model_dir, worker_process=True)


def test_generate_see_progress_and_interrupt_with_the_worker_process(browser, studio, artifacts_dir):
    worker = studio.services.worker
    assert isinstance(worker, ProcessWorker)
    page = open_page(browser, studio.url)

    # A small image: made in the child, shown in the gallery with its infotext.
    small_settings(page, steps=4)
    page.fill("#txt2img_prompt textarea", "a red circle")
    start_generation(page, "txt2img")
    assert wait_finished(page) == "done", progress_text(page)
    png = gallery_png(page)
    shown = page.input_value("#txt2img_infotext textarea")
    assert read_png_infotext(png) == shown and parse_infotext(shown)["Steps"] == "4"
    child = worker.child_pid
    assert child is not None and child != os.getpid()

    # A long job: steps and the live preview come over the pipe to the page; Interrupt goes back.
    set_number(page, "txt2img_steps", 150)
    set_number(page, "txt2img_batch_count", 20)
    page.fill("#txt2img_prompt textarea", "a big dark mountain")
    start_generation(page, "txt2img")
    wait_progress(page, "t.startsWith('Step') && parseInt(t.slice(5)) >= 6")
    page.wait_for_selector("#txt2img_preview img")
    text = progress_text(page)
    assert "/150" in text and "image 1/20" in text and "ETA" in text
    assert worker.child_pid == child  # the same worker process runs it
    shot(page, artifacts_dir, "txt2img-worker-process-progress")
    clicked = time.monotonic()
    page.click("#txt2img_interrupt")
    assert wait_finished(page, timeout=60) == "cancelled"
    assert time.monotonic() - clicked < 20  # one step in the child and a poll
    assert progress_text(page).startswith("Interrupted")
    assert worker.restarts == 0 and worker.child_pid == child  # interrupted, not killed
    page.context.close()
