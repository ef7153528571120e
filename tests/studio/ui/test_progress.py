from __future__ import annotations

from studio.request import ImageRecord
from studio.ui.backend import JobView
from studio.ui.progress import format_duration, progress_html, progress_text

IMAGE = ImageRecord(png=b"", seed=1, subseed=-1, infotext="")


def test_queued_says_how_many_jobs_are_ahead():
    assert progress_text(JobView("j", "queued", position=2)) == "Queued: 2 jobs ahead"
    assert progress_text(JobView("j", "queued", position=1)) == "Queued: 1 job ahead"
    assert progress_text(JobView("j", "queued", position=0)) == "Queued: starting…"


def test_running_shows_step_image_percent_and_eta():
    view = JobView("j", "running", step=5, steps=20, image_index=1, image_count=2, progress=0.625, eta=75.4)
    assert progress_text(view) == "Step 5/20 · image 2/2 · 62% · ETA 1m 15s"
    assert progress_text(JobView("j", "running")) == "Loading…"
    assert 'style="width:62.5%"' in progress_html(view, "txt2img")


def test_final_states():
    done = JobView("j", "done", images=(IMAGE, IMAGE), started_at=100.0, finished_at=103.2)
    assert progress_text(done) == "Done: 2 images in 3s"
    assert progress_text(JobView("j", "cancelled", images=(IMAGE,))) == "Interrupted: 1 image kept"
    assert progress_text(JobView("j", "cancelled")) == "Interrupted"
    failed = JobView("j", "failed", error="steps: 0 is out of range 1..150")
    assert progress_text(failed) == "Failed: steps: 0 is out of range 1..150"
    assert 'data-state="failed"' in progress_html(failed, "img2img")


def test_format_duration():
    assert format_duration(4.4) == "4s"
    assert format_duration(61) == "1m 01s"


def test_cost_check_warnings_show_under_the_bar_escaped():
    warned = JobView("j", "running", warnings=("estimated 2 h for 512x512 <50 steps>",))
    page = progress_html(warned, "txt2img")
    assert (
        '<ul class="atelier-warnings" id="txt2img_warnings"><li>estimated 2 h for 512x512 &lt;50 steps&gt;'
        in page
    )
    assert "atelier-warnings" not in progress_html(JobView("j", "running"), "txt2img")
