"""ServicesBackend over the real services: job queue, worker, engine with the tiny model."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from studio.config import StudioConfig, load_config
from studio.request import GenerationRequest
from studio.ui.backend import JobView
from studio.ui.services_backend import ServicesBackend


@pytest.fixture
def backend(studio_config: StudioConfig) -> Iterator[ServicesBackend]:
    from studio.app import build_services

    services = build_services(studio_config)
    services.start()
    try:
        yield ServicesBackend(services)
    finally:
        services.stop(timeout=30)


def follow(
    backend: ServicesBackend, job_id: str, until=lambda view: view.finished, timeout: float = 60
) -> list[JobView]:
    views = [backend.job(job_id)]
    deadline = time.monotonic() + timeout
    while not until(views[-1]):
        assert time.monotonic() < deadline, views[-1]
        views.append(backend.wait(job_id, timeout=0.5))
    return views


@pytest.mark.slow
def test_a_job_runs_to_images_with_infotext_and_history(backend):
    from studio.infotext import read_png_infotext

    request = GenerationRequest(prompt="a red circle", steps=3, width=64, height=64, seed=5)
    views = follow(backend, backend.submit(request))
    final = views[-1]
    assert final.state == "done" and final.progress == 1.0
    assert [image.seed for image in final.images] == [5]
    image = final.images[0]
    assert read_png_infotext(image.png) == image.infotext
    assert "Steps: 3" in image.infotext and "Seed: 5" in image.infotext
    assert any(view.state == "running" and view.steps == 3 for view in views)

    items, total = backend.history_page(0, 10, "red circle")
    assert total == 1 and items[0].infotext == image.infotext and items[0].seed == 5
    assert backend.history_item(items[0].id) == items[0]
    assert backend.history_page(0, 10, "blue square") == ([], 0)


@pytest.mark.slow
def test_queue_position_and_interrupt(backend):
    # 7,500 steps: long enough to still be running when interrupted, even on a fast GPU.
    long_job = backend.submit(
        GenerationRequest(prompt="a big sky", steps=150, n_iter=50, width=64, height=64)
    )
    views = follow(backend, long_job, until=lambda view: view.step >= 1, timeout=60)
    running = views[-1]
    assert running.state == "running" and running.steps == 150 and running.image_count == 50
    assert running.eta is not None
    assert 0 < running.progress < 1
    short_job = backend.submit(GenerationRequest(prompt="a cat", steps=2, width=64, height=64))
    queued = backend.job(short_job)
    assert queued.state == "queued" and queued.position == 1
    assert backend.status().queue_length == 2

    backend.interrupt(long_job)
    stopped = follow(backend, long_job, timeout=20)[-1]
    assert stopped.state == "cancelled"
    assert follow(backend, short_job)[-1].state == "done"


def test_pickers_scripts_and_status(backend):
    titles = backend.checkpoints()
    assert len(titles) == 1 and titles[0].startswith("tiny [")
    assert "Euler a" in backend.sampler_names() and backend.schedule_types()
    selectable = [script.name for script in backend.scripts("txt2img") if script.selectable]
    assert "X/Y/Z plot" in selectable
    assert any(row["name"] == "X/Y/Z plot" for row in backend.script_table())
    assert "Euler a" in backend.axis_value_choices("Sampler")
    assert titles[0] in backend.axis_value_choices("Checkpoint name")
    assert backend.axis_value_choices("Steps") is None
    status = backend.status()
    assert status.queue_length == 0 and status.model_loaded == titles[0]
    assert status.device.startswith("cpu") and status.memory_in_use.endswith("MB")


def test_save_settings_persists_and_says_what_applies_now(backend, studio_config):
    saved = backend.save_settings(
        {
            "samples_save": False,
            "clip_skip": 2,
            "device": "cpu",
            "model_cache_size": 2,
            "worker_process": True,
        }
    )
    assert saved.applied == ("samples_save", "clip_skip")
    assert saved.on_restart == ("device", "worker_process")  # model_cache_size did not change
    assert backend.config.samples_save is False and backend.engine.config.samples_save is False
    on_disk = json.loads(studio_config.config_file.read_text())
    assert on_disk == {"samples_save": False, "clip_skip": 2, "device": "cpu", "worker_process": True}
    assert load_config(environ={}, cli={"data_dir": studio_config.data_dir}).worker_process is True


def test_build_blocks_makes_the_page(backend):
    import gradio as gr

    from studio.ui import build_blocks

    blocks = build_blocks(backend.services)
    assert isinstance(blocks, gr.Blocks)
    ids = {block.elem_id for block in blocks.blocks.values() if getattr(block, "elem_id", None)}
    assert {"txt2img_generate", "img2img_generate", "history_gallery", "pnginfo_file", "settings_save"} <= ids


def test_heun_progress_counts_the_steps_asked_for(backend):
    request = GenerationRequest(prompt="a cat", steps=6, width=64, height=64, sampler_name="Heun")
    views = follow(backend, backend.submit(request))
    assert views[-1].state == "done"
    running = [view for view in views if view.state == "running" and view.steps]
    assert running and {view.steps for view in running} == {6}
    assert max(view.step for view in running) <= 6


def test_schedule_types_offered_per_sampler(backend):
    everything = backend.schedule_types()
    per_sampler = {name: backend.schedule_types_for(name) for name in backend.sampler_names()}
    assert all(set(types) <= set(everything) and "Automatic" in types for types in per_sampler.values())
    assert any(set(types) < set(everything) for types in per_sampler.values())
    assert backend.schedule_types_for("no such sampler") == everything


def test_the_cost_check_refuses_before_queueing_and_its_warnings_follow_the_job(backend):
    from studio.memory.estimate import CostRefused

    backend.save_settings({"cost_check": "refuse", "max_job_seconds": 60})
    a1111_default = GenerationRequest(prompt="a red circle", width=512, height=512, steps=50)
    with pytest.raises(CostRefused, match="max_job_seconds=60"):
        backend.submit(a1111_default)
    assert backend.jobs.queue.count() == 0

    saved = backend.save_settings({"cost_check": "warn", "max_job_seconds": 0.01})
    assert set(saved.applied) == {"cost_check", "max_job_seconds"}
    job_id = backend.submit(GenerationRequest(prompt="a red circle", steps=2, width=64, height=64, seed=1))
    first = backend.job(job_id)
    assert len(first.warnings) == 1 and "max_job_seconds=0.01" in first.warnings[0]
    last = follow(backend, job_id)[-1]
    assert last.state == "done" and "max_job_seconds=0.01" in last.warnings[0]
