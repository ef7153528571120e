"""The studio in a real browser: Chromium (Debian's) driven by Playwright over the tiny model.

One server and one browser for the module; each test opens its own page (a browser tab).
Screenshots of every tab land in the artifacts folder (see conftest).
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from studio.infotext import parse_infotext, read_png_infotext

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FINAL_STATES = ("done", "cancelled", "failed", "interrupted")


def open_page(browser: Any, url: str) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(90_000)  # generous: CI machines may be busy
    page.goto(url)
    page.wait_for_selector("#txt2img_prompt textarea")
    page.wait_for_selector("#atelier_status")
    wait_restored(page)
    return page


def wait_restored(page: Any) -> None:
    """Wait until the saved form has been put back: typing before that could be overwritten."""
    page.wait_for_selector("body[data-restored]", state="attached")


def set_number(page: Any, elem_id: str, value: float) -> None:
    """Type into a slider's or a number box's input and commit it (blur)."""
    box = page.locator(f"#{elem_id} input[type=number]").first
    box.fill(str(value))
    box.press("Tab")


def start_generation(page: Any, prefix: str, *, shortcut: bool = False) -> None:
    page.evaluate(
        "(p) => { const el = document.querySelector(`#${p}_progress`); if (el) el.setAttribute('data-stale', '1'); }",
        prefix,
    )
    if shortcut:
        page.locator(f"#{prefix}_prompt textarea").press("Control+Enter")
    else:
        page.click(f"#{prefix}_generate")


def wait_state(page: Any, prefix: str, states: tuple[str, ...], timeout: float = 120) -> str:
    selector = ", ".join(f"#{prefix}_progress:not([data-stale])[data-state={state}]" for state in states)
    page.wait_for_selector(selector, timeout=timeout * 1000)
    return page.get_attribute(f"#{prefix}_progress", "data-state")


def wait_finished(page: Any, prefix: str = "txt2img", timeout: float = 120) -> str:
    state = wait_state(page, prefix, FINAL_STATES, timeout)
    page.wait_for_timeout(200)  # the final yield also fills the gallery and the infotext
    return state


def gallery_png(page: Any, prefix: str = "txt2img") -> bytes:
    source = page.locator(f"#{prefix}_gallery img").first.get_attribute("src")
    response = page.request.get(source)
    assert response.ok, source
    return response.body()


def pixels(png: bytes) -> bytes:
    return Image.open(io.BytesIO(png)).convert("RGB").tobytes()


def shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def small_settings(page: Any, prefix: str = "txt2img", steps: int = 4, size: int = 64) -> None:
    set_number(page, f"{prefix}_steps", steps)
    set_number(page, f"{prefix}_width", size)
    set_number(page, f"{prefix}_height", size)


def test_prompt_ctrl_enter_infotext_and_reused_seed_repeat_the_image(browser, studio, artifacts_dir):
    page = open_page(browser, studio.url)
    small_settings(page)
    page.fill("#txt2img_negative_prompt textarea", "blue")
    page.fill("#txt2img_prompt textarea", "a red circle")
    start_generation(page, "txt2img", shortcut=True)
    assert wait_finished(page) == "done"

    first = gallery_png(page)
    shown = page.input_value("#txt2img_infotext textarea")
    assert read_png_infotext(first) == shown
    parsed = parse_infotext(shown)
    assert parsed["Prompt"] == "a red circle"
    assert parsed["Negative prompt"] == "blue"
    assert parsed["Steps"] == "4"
    assert parsed["Size"] == "64x64"
    assert parsed["Sampler"] == page.locator("#txt2img_sampler input").input_value()
    seed = int(parsed["Seed"])
    shot(page, artifacts_dir, "txt2img")

    page.click("#txt2img_output_reuse_seed")
    page.wait_for_function("(s) => document.querySelector('#txt2img_seed input').value == s", arg=str(seed))
    start_generation(page, "txt2img")
    assert wait_finished(page) == "done"
    second = gallery_png(page)
    assert parse_infotext(page.input_value("#txt2img_infotext textarea"))["Seed"] == str(seed)
    assert pixels(second) == pixels(first)

    # A random seed again: a different image.
    page.click("#txt2img_random_seed")
    page.wait_for_function("() => document.querySelector('#txt2img_seed input').value == '-1'")
    start_generation(page, "txt2img")
    assert wait_finished(page) == "done"
    assert pixels(gallery_png(page)) != pixels(first)
    page.context.close()


def progress_text(page: Any, prefix: str = "txt2img") -> str:
    return page.text_content(f"#{prefix}_progress_text") or ""


def wait_progress(page: Any, predicate_js: str, prefix: str = "txt2img", timeout: float = 90) -> None:
    """Wait until the progress line's text `t` satisfies the JS expression `predicate_js`."""
    page.wait_for_function(
        f"(p) => {{ const t = document.querySelector(`#${{p}}_progress_text`)?.textContent || ''; return {predicate_js}; }}",
        arg=prefix,
        timeout=timeout * 1000,
    )


def test_two_tabs_queue_skip_and_interrupt_a_long_job(browser, studio, artifacts_dir):
    long_page = open_page(browser, studio.url)
    # 150 steps x 50 images: still running when interrupted, even on a fast GPU.
    small_settings(long_page, steps=150)
    set_number(long_page, "txt2img_batch_count", 50)
    long_page.fill("#txt2img_prompt textarea", "a big dark mountain")
    start_generation(long_page, "txt2img")
    # Live preview: the worker sends one every few steps.
    wait_progress(long_page, "t.startsWith('Step') && parseInt(t.slice(5)) >= 6")
    long_page.wait_for_selector("#txt2img_preview img")
    text = progress_text(long_page)
    assert "/150" in text and "image 1/50" in text and "ETA" in text

    # A second browser tab queues its job behind the running one and says so.
    short_page = open_page(browser, studio.url)
    small_settings(short_page)
    short_page.fill("#txt2img_prompt textarea", "a small green tree")
    start_generation(short_page, "txt2img")
    wait_progress(short_page, "t.startsWith('Queued: 1 job ahead')")
    shot(long_page, artifacts_dir, "txt2img-progress")

    # Skip ends the first image early; the job goes on with the second.
    long_page.click("#txt2img_skip")
    wait_progress(long_page, "t.includes('image 2/50')")
    clicked = time.monotonic()
    long_page.click("#txt2img_interrupt")
    assert wait_finished(long_page, timeout=60) == "cancelled"
    assert time.monotonic() - clicked < 20  # one step (seconds on a busy CPU) and a poll
    assert progress_text(long_page).startswith("Interrupted")
    # The other tab's job runs next.
    assert wait_finished(short_page) == "done"
    assert "a small green tree" in short_page.input_value("#txt2img_infotext textarea")
    long_page.context.close()
    short_page.context.close()


def test_send_to_inpaint_with_an_uploaded_mask(browser, studio, artifacts_dir, tmp_path):
    page = open_page(browser, studio.url)
    small_settings(page, steps=3)
    page.fill("#txt2img_prompt textarea", "a blue house")
    start_generation(page, "txt2img")
    assert wait_finished(page) == "done"

    page.click("#txt2img_send_inpaint")
    page.wait_for_selector("#img2img_mask_source")  # the inpaint options show in inpaint mode
    page.wait_for_function("() => document.querySelector('#img2img_prompt textarea').value == 'a blue house'")
    assert page.locator("#img2img_width input[type=number]").input_value() == "64"
    mask = tmp_path / "mask.png"
    picture = Image.new("L", (64, 64), 0)
    picture.paste(255, (16, 16, 48, 48))
    picture.save(mask)
    page.locator("#img2img_mask_source label", has_text="Upload a mask").click()
    page.set_input_files("#img2img_mask_upload input[type=file]", str(mask))
    page.wait_for_selector("#img2img_mask_upload img")
    set_number(page, "img2img_denoising", 0.6)
    start_generation(page, "img2img")
    assert wait_finished(page, "img2img") == "done"
    parsed = parse_infotext(page.input_value("#img2img_infotext textarea"))
    assert parsed["Prompt"] == "a blue house"
    assert parsed["Denoising strength"] == "0.6"
    assert "Mask blur" in parsed
    shot(page, artifacts_dir, "img2img-inpaint")
    page.context.close()


def choose(page: Any, elem_id: str, value: str) -> None:
    """Pick `value` in a Gradio dropdown by typing it and taking the match."""
    box = page.locator(f"#{elem_id} input").first
    box.click()
    box.fill(value)
    page.locator("ul[role=listbox] li", has_text=value).first.click()


def test_xyz_script_from_the_script_dropdown(browser, studio, artifacts_dir):
    page = open_page(browser, studio.url)
    small_settings(page, steps=2)
    page.fill("#txt2img_prompt textarea", "a purple square")
    choose(page, "txt2img_script", "X/Y/Z plot")
    page.wait_for_selector("#txt2img_script0_x_type")
    choose(page, "txt2img_script0_x_type", "Steps")
    page.fill("#txt2img_script0_x_values textarea", "2, 3")
    start_generation(page, "txt2img")
    assert wait_finished(page) == "done", progress_text(page)
    assert page.locator("#txt2img_gallery img").count() >= 1
    shot(page, artifacts_dir, "txt2img-xyz")
    page.context.close()


def test_always_on_script_enabled_from_its_accordion(browser, studio):
    page = open_page(browser, studio.url)
    accordion = page.locator("#txt2img_alwayson0")
    if accordion.count() == 0 or "Caption stamp" not in accordion.text_content():
        pytest.skip("the caption-stamp example extension is not installed")
    accordion.get_by_text("Caption stamp").first.click()
    page.locator("#txt2img_alwayson0_enable input").check()
    page.fill("#txt2img_alwayson0_prompt_prefix textarea", "photo of")
    small_settings(page, steps=2)
    page.fill("#txt2img_prompt textarea", "a dog")
    start_generation(page, "txt2img")
    assert wait_finished(page) == "done"
    assert parse_infotext(page.input_value("#txt2img_infotext textarea"))["Prompt"] == "photo of a dog"
    page.context.close()


def test_history_lists_images_and_loads_parameters_into_txt2img(browser, studio, artifacts_dir):
    page = open_page(browser, studio.url)
    small_settings(page, steps=3)
    page.fill("#txt2img_prompt textarea", "a yellow star on the sky")
    start_generation(page, "txt2img")
    assert wait_finished(page) == "done"
    expected = page.input_value("#txt2img_infotext textarea")

    page.fill("#txt2img_prompt textarea", "something else")
    set_number(page, "txt2img_steps", 9)
    page.click("#tab_history-button")
    page.wait_for_selector("#history_gallery img")
    page.fill("#history_search textarea", "yellow star")
    page.press("#history_search textarea", "Enter")
    page.wait_for_function(
        "() => (document.querySelector('#history_page_label')?.textContent || '').includes('1 image')"
    )
    page.locator("#history_gallery img").first.click()
    page.wait_for_function(
        "(t) => document.querySelector('#history_infotext textarea').value == t", arg=expected
    )
    shot(page, artifacts_dir, "history")
    page.click("#history_load_parameters")
    page.wait_for_function(
        "() => document.querySelector('#txt2img_prompt textarea').value == 'a yellow star on the sky'"
    )
    assert page.locator("#txt2img_steps input[type=number]").input_value() == "3"
    assert page.locator("#txt2img_seed input").input_value() == parse_infotext(expected)["Seed"]
    page.context.close()


def test_png_info_reads_a_dropped_png_and_sends_it_to_txt2img(browser, studio, artifacts_dir, tmp_path):
    from PIL import PngImagePlugin

    # An A1111-style PNG made elsewhere: the tab parses its infotext.
    info = (
        "a pink flower in the city\nNegative prompt: gray\n"
        "Steps: 12, Sampler: Euler, Schedule type: Karras, CFG scale: 5.5, Seed: 1234, Size: 64x96, "
        "Model hash: 0123456789, Model: elsewhere, Version: v1.10.1"
    )
    meta = PngImagePlugin.PngInfo()
    meta.add_text("parameters", info)
    path = tmp_path / "a1111.png"
    Image.new("RGB", (64, 96), (200, 100, 150)).save(path, pnginfo=meta)

    page = open_page(browser, studio.url)
    page.click("#tab_pnginfo-button")
    page.set_input_files("#pnginfo_file input[type=file]", str(path))
    page.wait_for_function("(t) => document.querySelector('#pnginfo_infotext textarea').value == t", arg=info)
    page.wait_for_selector("#pnginfo_image img")
    shot(page, artifacts_dir, "pnginfo")
    page.click("#pnginfo_send_txt2img")
    page.wait_for_function(
        "() => document.querySelector('#txt2img_prompt textarea').value == 'a pink flower in the city'"
    )
    assert page.input_value("#txt2img_negative_prompt textarea") == "gray"
    assert page.locator("#txt2img_steps input[type=number]").input_value() == "12"
    assert page.locator("#txt2img_cfg_scale input[type=number]").input_value() == "5.5"
    assert page.locator("#txt2img_width input[type=number]").input_value() == "64"
    assert page.locator("#txt2img_height input[type=number]").input_value() == "96"
    assert page.locator("#txt2img_seed input").input_value() == "1234"
    page.context.close()


def test_form_survives_a_reload_and_other_tabs_render(browser, studio, artifacts_dir):
    page = open_page(browser, studio.url)
    page.fill("#txt2img_prompt textarea", "a white cat with a hat")
    set_number(page, "txt2img_steps", 7)
    page.wait_for_timeout(800)  # the change events store the form in the browser
    page.reload()
    wait_restored(page)
    page.wait_for_function(
        "() => document.querySelector('#txt2img_prompt textarea')?.value == 'a white cat with a hat'"
    )
    assert page.locator("#txt2img_steps input[type=number]").input_value() == "7"
    status = page.text_content("#atelier_status")
    assert "Device" in status and "Queue" in status and "Model" in status
    # Settings: a change that waits for a restart is saved and reported as such.
    page.click("#tab_settings-button")
    set_number(page, "settings_model_cache_size", 3)
    page.click("#settings_save")
    page.wait_for_function(
        "() => (document.querySelector('#settings_message')?.textContent || '').includes('After a restart: model_cache_size')"
    )
    assert json.loads(studio.config.config_file.read_text())["model_cache_size"] == 3
    shot(page, artifacts_dir, "settings")
    page.click("#tab_extensions-button")
    page.wait_for_selector("#scripts_table")
    assert "X/Y/Z plot" in page.text_content("#scripts_table")
    shot(page, artifacts_dir, "extensions")
    page.context.close()


def save_cost_check(page: Any, studio: Any, mode: str, seconds: float) -> None:
    page.click("#tab_settings-button")
    choose(page, "settings_cost_check", mode)
    set_number(page, "settings_max_job_seconds", seconds)
    page.click("#settings_save")
    deadline = time.monotonic() + 60
    while studio.services.engine.config.cost_check != mode:  # the save applies it at once
        assert time.monotonic() < deadline, page.text_content("#settings_message")
        page.wait_for_timeout(100)
    page.wait_for_function(
        "() => (document.querySelector('#settings_message')?.textContent || '').includes('In effect now: cost_check')"
    )
    page.click("#tab_txt2img-button")


def test_cost_check_from_settings_refuses_then_warns(browser, studio, artifacts_dir):
    page = open_page(browser, studio.url)
    try:
        save_cost_check(page, studio, "refuse", 60)
        assert json.loads(studio.config.config_file.read_text())["cost_check"] == "refuse"
        small_settings(page, steps=50, size=512)  # an A1111 client's default: minutes on a CPU
        page.fill("#txt2img_prompt textarea", "a red circle")
        start_generation(page, "txt2img")
        assert wait_state(page, "txt2img", ("failed",)) == "failed"
        text = progress_text(page)
        assert text.startswith("Cannot generate: cost_check: estimated") and "max_job_seconds=60" in text
        shot(page, artifacts_dir, "txt2img-cost-refused")

        save_cost_check(page, studio, "warn", 0.01)
        small_settings(page, steps=2)
        start_generation(page, "txt2img")
        assert wait_finished(page) == "done"
        assert "max_job_seconds=0.01" in page.text_content("#txt2img_warnings")
        shot(page, artifacts_dir, "txt2img-cost-warned")
    finally:  # the other tests share this studio
        studio.services.options.save_settings({"cost_check": "off"})
        page.context.close()


def test_openvino_backend_from_settings_runs_the_next_image(browser, studio, artifacts_dir):
    pytest.importorskip("openvino")
    page = open_page(browser, studio.url)
    try:
        page.click("#tab_settings-button")
        choose(page, "settings_backend", "openvino")
        page.locator("#settings_channels_last input").check()
        page.locator("#settings_openvino_int8 input").check()
        page.click("#settings_save")
        page.wait_for_function(
            "() => (document.querySelector('#settings_message')?.textContent || '').includes('In effect now: backend')"
        )
        assert studio.services.engine.config.backend == "openvino"
        assert studio.services.engine.config.channels_last is True
        saved = json.loads(studio.config.config_file.read_text())
        assert saved["backend"] == "openvino" and saved["channels_last"] is True
        assert saved["openvino_int8"] is True and studio.services.engine.config.openvino_int8 is True
        page.click("#tab_txt2img-button")
        small_settings(page, steps=2)
        page.fill("#txt2img_prompt textarea", "a red circle")
        start_generation(page, "txt2img")
        assert wait_finished(page, timeout=300) == "done"  # the first job exports the tiny model
        models = studio.services.engine.config.models_path
        assert list((models / "OpenVINO").glob("*/unet-*/unet.xml"))  # exported, so it ran there
        assert list((models / "OpenVINO").glob("*/unet-*/unet-int8.xml"))  # and in int8
        shot(page, artifacts_dir, "txt2img-openvino")
    finally:  # the other tests share this studio
        # one store: the engine follows
        studio.services.options.save_settings(
            {"backend": "auto", "channels_last": False, "openvino_int8": False}
        )


def test_dtype_and_memory_policy_from_settings_and_the_device_on_the_status_line(
    browser, studio, artifacts_dir
):
    page = open_page(browser, studio.url)
    try:
        device = page.text_content("#atelier_device") or ""
        assert device.startswith("cpu (") and "float" in device  # the device and its dtypes
        page.click("#tab_settings-button")
        choose(page, "settings_memory_policy", "auto")
        choose(page, "settings_dtype", "bf16")
        page.click("#settings_save")
        page.wait_for_function(
            "() => { const t = document.querySelector('#settings_message')?.textContent || '';"
            " return t.includes('In effect now: memory_policy') && t.includes('After a restart: dtype'); }"
        )
        saved = json.loads(studio.config.config_file.read_text())
        assert saved["memory_policy"] == "auto" and saved["dtype"] == "bf16"
        assert studio.services.engine.config.memory_policy == "auto"
        shot(page, artifacts_dir, "settings-performance")
        page.click("#tab_txt2img-button")  # the result says what it ran with
        small_settings(page, steps=2)
        start_generation(page, "txt2img")
        assert wait_finished(page) == "done"
        page.wait_for_selector("#txt2img_runtime")
        runtime = page.text_content("#txt2img_runtime") or ""
        assert runtime.startswith("cpu (float32)") and "memory: no strategy" in runtime
    finally:  # the other tests share this studio
        studio.services.options.save_settings({"memory_policy": "off", "dtype": "auto"})
        page.context.close()
