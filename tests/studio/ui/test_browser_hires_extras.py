"""Hires fix in txt2img, PNG Info sending the hires fields back, and the Extras tab, in Chromium."""

from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin

from studio.infotext import parse_infotext
from tests.studio.ui.test_browser import (
    gallery_png,
    open_page,
    set_number,
    shot,
    small_settings,
    start_generation,
    wait_finished,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_hires_fix_from_the_txt2img_form(browser, studio, artifacts_dir):
    page = open_page(browser, studio.url)
    small_settings(page, steps=2)
    page.fill("#txt2img_prompt textarea", "a green hill")
    page.locator("#txt2img_hr").get_by_text("Hires. fix").first.click()
    page.locator("#txt2img_enable_hr input").check()
    set_number(page, "txt2img_hr_scale", 1.5)
    set_number(page, "txt2img_hires_steps", 2)
    set_number(page, "txt2img_denoising_strength", 0.5)
    start_generation(page, "txt2img")
    assert wait_finished(page) == "done"
    assert Image.open(io.BytesIO(gallery_png(page))).size == (96, 96)
    parsed = parse_infotext(page.input_value("#txt2img_infotext textarea"))
    assert parsed["Hires upscale"] == "1.5" and parsed["Hires steps"] == "2"
    assert parsed["Hires upscaler"] == "Latent" and parsed["Denoising strength"] == "0.5"
    shot(page, artifacts_dir, "txt2img-hires")
    page.context.close()


def test_png_info_sends_hires_fields_and_extras_upscales(browser, studio, artifacts_dir, tmp_path):
    info = (
        "a castle\nSteps: 3, Sampler: Euler, CFG scale: 5, Seed: 9, Size: 64x64, Denoising strength: 0.4, "
        "Hires upscale: 1.5, Hires steps: 3, Hires upscaler: Lanczos"
    )
    meta = PngImagePlugin.PngInfo()
    meta.add_text("parameters", info)
    path = tmp_path / "hires.png"
    Image.new("RGB", (64, 48), (20, 120, 220)).save(path, pnginfo=meta)
    page = open_page(browser, studio.url)
    page.click("#tab_pnginfo-button")
    page.set_input_files("#pnginfo_file input[type=file]", str(path))
    page.wait_for_function("(t) => document.querySelector('#pnginfo_infotext textarea').value == t", arg=info)
    page.click("#pnginfo_send_txt2img")
    page.wait_for_function("() => document.querySelector('#txt2img_prompt textarea').value == 'a castle'")
    page.locator("#txt2img_hr").get_by_text("Hires. fix").first.click()
    assert page.locator("#txt2img_enable_hr input").is_checked()
    assert page.locator("#txt2img_hr_scale input[type=number]").input_value() == "1.5"
    assert page.locator("#txt2img_denoising_strength input[type=number]").input_value() == "0.4"

    page.click("#tab_extras-button")
    page.set_input_files("#extras_image input[type=file]", str(path))
    page.wait_for_selector("#extras_image img")
    page.locator("#extras_upscaler_1 input").first.click()
    page.locator("#extras_upscaler_1 input").first.fill("Lanczos")
    page.locator("ul[role=listbox] li", has_text="Lanczos").first.click()
    page.click("#extras_generate")
    page.wait_for_function(
        "() => (document.querySelector('#extras_info')?.textContent || '').includes('Postprocess upscaler: Lanczos')"
    )
    page.wait_for_selector("#extras_result img")
    source = page.locator("#extras_result img").first.get_attribute("src")
    result = Image.open(io.BytesIO(page.request.get(source).body()))
    assert result.size == (128, 96)
    shot(page, artifacts_dir, "extras")
    page.context.close()


def test_extras_restores_a_face_as_a_queued_job(browser, studio, artifacts_dir, tmp_path):
    import numpy as np

    from tests.studio.pipeline.face_models import face_scene, write_tiny_gfpgan

    write_tiny_gfpgan(studio.config.models_path)
    scene = face_scene()
    path = tmp_path / "face.png"
    scene.save(path)
    page = open_page(browser, studio.url)
    page.click("#tab_extras-button")
    # the tab says which restorers can run and which face detector they use
    status = page.locator("#extras_face_status").inner_text()
    assert "GFPGAN: ready (tiny-gfpgan.safetensors)" in status
    assert "CodeFormer: unavailable" in status
    assert "Haar cascade with axis-aligned square crops" in status and "detection_Resnet50_Final" in status
    page.set_input_files("#extras_image input[type=file]", str(path))
    page.wait_for_selector("#extras_image img")
    set_number(page, "extras_upscaling_resize", 1)
    set_number(page, "extras_gfpgan_visibility", 1)
    before = studio.services.queue.count(kind="extras")
    page.click("#extras_generate")
    page.wait_for_function(
        "() => (document.querySelector('#extras_info')?.textContent || '').includes('GFPGAN visibility: 1')"
    )
    assert studio.services.queue.count(kind="extras") == before + 1  # it went through the queue
    source = page.locator("#extras_result img").first.get_attribute("src")
    result = Image.open(io.BytesIO(page.request.get(source).body())).convert("RGB")
    assert result.size == scene.size
    changed = np.abs(np.asarray(result, dtype=np.int16) - np.asarray(scene, dtype=np.int16))
    assert changed[60:100, 140:180].mean() > 10 and changed[:, :20].max() == 0
    shot(page, artifacts_dir, "extras-face-restoration")
    # the Hires checkpoint picker offers the installed checkpoints
    page.click("#tab_txt2img-button")
    page.locator("#txt2img_hr").get_by_text("Hires. fix").first.click()
    assert page.locator("#txt2img_hires_checkpoint input").first.input_value() == "Use same checkpoint"
    page.context.close()


def test_extras_waits_in_the_queue_and_cancel_takes_it_out(browser, studio, tmp_path):
    import threading

    gate, started = threading.Event(), threading.Event()

    def hold(payload, control):
        started.set()
        gate.wait(60)
        return {}

    studio.services.runners.register("test-hold", hold, decode=lambda data: data)
    try:
        studio.services.jobs.submit("test-hold", {})
        assert started.wait(30)
        path = tmp_path / "small.png"
        Image.new("RGB", (32, 32), (10, 200, 30)).save(path)
        page = open_page(browser, studio.url)
        page.click("#tab_extras-button")
        page.set_input_files("#extras_image input[type=file]", str(path))
        page.wait_for_selector("#extras_image img")
        page.click("#extras_generate")
        page.wait_for_function(
            "() => (document.querySelector('#extras_info')?.textContent || '').includes('Queued: 1 job(s) ahead')"
        )
        [job] = studio.services.queue.list(kind="extras", states=["queued"])
        page.click("#extras_cancel")
        page.wait_for_function(
            "() => (document.querySelector('#extras_info')?.textContent || '').includes('Cancelled before')"
        )
        assert studio.services.jobs.get(job.id).state == "cancelled"
        page.context.close()
    finally:
        gate.set()
        studio.services.runners.unregister("test-hold")
