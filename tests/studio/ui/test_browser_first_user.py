"""What a first user trips over (#19), in a real browser: one page for the module.

Settings that show what is in effect and save only edits, schedule types per sampler, the
tab's title carrying progress with a notification when done, the inpaint hint only in inpaint
mode, and the output right under Generate on a phone-sized screen.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.studio.ui.test_browser import (
    choose,
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
def page(browser: Any, studio: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(90_000)
    load(page, studio.url)
    yield page
    context.close()


def load(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#txt2img_prompt textarea")
    page.wait_for_selector("body[data-restored]", state="attached")


def open_tab(page: Any, name: str) -> None:
    page.locator("#tabs button[role=tab]", has_text=name).first.click()


def slider_value(page: Any, elem_id: str) -> str:
    return page.locator(f"#{elem_id} input[type=number]").first.input_value()


def save_settings(page: Any) -> str:
    """Click Save settings and return the message it leads to (not the one before it)."""
    page.evaluate(
        "() => { const m = document.querySelector('#settings_message'); m.dataset.old = m.textContent; }"
    )
    page.click("#settings_save")
    page.wait_for_function(
        r"""() => {
        const m = document.querySelector('#settings_message');
        const t = m.textContent || '';
        return t !== m.dataset.old && /Saved\.|Nothing changed|Not saved/.test(t) && !t.includes('processing');
    }"""
    )
    return page.text_content("#settings_message") or ""


def test_settings_show_what_is_saved_and_a_save_keeps_other_saves(page, studio, browser):
    open_tab(page, "Settings")
    set_number(page, "settings_clip_skip", 3)
    assert "clip_skip" in save_settings(page)

    load(page, studio.url)  # a reload shows what is in effect, not the startup values
    open_tab(page, "Settings")
    page.wait_for_function(
        "() => document.querySelector('#settings_clip_skip input[type=number]').value == '3'"
    )

    # A second tab saves clip skip 5; this (now stale) page then saves only what it changed.
    other = page.context.new_page()
    load(other, studio.url)
    open_tab(other, "Settings")
    other.wait_for_function(
        "() => document.querySelector('#settings_clip_skip input[type=number]').value == '3'"
    )
    set_number(other, "settings_clip_skip", 5)
    save_settings(other)
    other.close()
    set_number(page, "settings_model_cache_size", 3)
    message = save_settings(page)
    assert "model_cache_size" in message and "clip_skip" not in message
    load(page, studio.url)
    open_tab(page, "Settings")
    page.wait_for_function(
        "() => document.querySelector('#settings_clip_skip input[type=number]').value == '5'"
    )
    assert page.locator("#settings_model_cache_size input").input_value() == "3"

    # One store with the options API: what a client sets shows in the form after a reload,
    # and what the form saved is what the API answers.
    url = f"{studio.url.rstrip('/')}/sdapi/v1/options"
    assert requests.get(url, timeout=30).json()["CLIP_stop_at_last_layers"] == 5
    requests.post(
        url, json={"CLIP_stop_at_last_layers": 2, "samples_save": False}, timeout=30
    ).raise_for_status()
    load(page, studio.url)
    open_tab(page, "Settings")
    page.wait_for_function(
        "() => document.querySelector('#settings_clip_skip input[type=number]').value == '2'"
    )
    assert not page.locator("#settings_samples_save input").is_checked()
    # as it was (the tiny model's text encoder has fewer layers than most clip skips)
    requests.post(
        url, json={"samples_save": True, "CLIP_stop_at_last_layers": 1}, timeout=30
    ).raise_for_status()


def test_schedule_types_follow_the_sampler(page, studio):
    samplers = studio.services.engine.samplers
    everything = samplers.schedule_type_names()
    narrow = next(
        name for name in samplers.sampler_names() if len(samplers.schedule_types_for(name)) < len(everything)
    )
    allowed = samplers.schedule_types_for(narrow)
    open_tab(page, "Text to image")
    choose(page, "txt2img_sampler", narrow)
    page.locator("#txt2img_scheduler input").first.click()
    page.wait_for_selector("ul[role=listbox] li")
    page.wait_for_function(
        "(n) => document.querySelectorAll('ul[role=listbox] li').length == n", arg=len(allowed)
    )
    offered = [
        item.replace("✓", "").strip() for item in page.locator("ul[role=listbox] li").all_text_contents()
    ]
    assert offered == allowed
    page.keyboard.press("Escape")
    assert page.locator("#txt2img_scheduler input").first.input_value() in allowed


def test_title_shows_progress_and_a_finished_job_notifies(page, studio, artifacts_dir):
    open_tab(page, "Settings")
    page.locator("#settings_notify input").check()
    assert page.evaluate("() => localStorage.getItem('atelier-notify')") == "1"
    open_tab(page, "Text to image")
    choose(page, "txt2img_sampler", "Euler")
    small_settings(page, steps=30)
    page.fill("#txt2img_prompt textarea", "a lighthouse at night")
    titles: list[str] = []
    start_generation(page, "txt2img")
    page.wait_for_function("() => /^\\[\\d+%\\] /.test(document.title)")
    titles.append(page.title())
    assert wait_finished(page) == "done"
    page.wait_for_function("() => Number(document.body.dataset.notified || 0) >= 1")
    page.wait_for_function("() => !document.title.startsWith('[')")
    assert titles[0].endswith("Atelier")


def test_inpaint_hint_only_in_inpaint_mode(page):
    open_tab(page, "Image to image")
    label = page.locator("#img2img_image").first
    assert "paint" not in (label.text_content() or "").lower()
    page.locator("#img2img_mode label", has_text="Inpaint").click()
    page.wait_for_function(
        "() => document.querySelector('#img2img_image').textContent.includes('painted area is inpainted')"
    )
    page.locator("#img2img_mode label", has_text="Image to image").click()
    page.wait_for_function(
        "() => !document.querySelector('#img2img_image').textContent.includes('painted area is inpainted')"
    )


def test_phone_width_puts_the_result_under_generate(page, artifacts_dir):
    open_tab(page, "Text to image")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    generate = page.locator("#txt2img_generate").bounding_box()
    gallery = page.locator("#txt2img_gallery").bounding_box()
    sampler = page.locator("#txt2img_sampler").bounding_box()
    assert gallery["y"] > generate["y"]
    assert gallery["y"] - (generate["y"] + generate["height"]) < 844 / 2
    assert gallery["y"] < sampler["y"]
    shot(page, artifacts_dir, "txt2img-phone")
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.wait_for_timeout(300)
    shot(page, artifacts_dir, "txt2img-wide")
    # The square result is shown whole: not cropped by the gallery's box.
    shown = page.evaluate(
        """() => {
        const img = document.querySelector('#txt2img_gallery img');
        const box = img.getBoundingClientRect();
        const frame = document.querySelector('#txt2img_gallery').getBoundingClientRect();
        return {fit: getComputedStyle(img).objectFit, w: box.width, h: box.height,
                bottom: box.bottom, frame: frame.bottom, natural: [img.naturalWidth, img.naturalHeight]};
    }"""
    )
    assert shown["natural"][0] == shown["natural"][1], shown
    assert shown["bottom"] <= shown["frame"] + 1, shown
    assert shown["fit"] == "contain" or abs(shown["w"] - shown["h"]) <= 2, shown


def test_a_reload_reattaches_to_the_job_with_progress_skip_interrupt_and_result(page, studio):
    open_tab(page, "Text to image")
    small_settings(page, steps=150)
    set_number(page, "txt2img_batch_count", 3)
    page.fill("#txt2img_prompt textarea", "a river in the hills")
    start_generation(page, "txt2img")
    wait_progress(page, "t.startsWith('Step')")

    load(page, studio.url)  # the reload: the page follows its job again
    wait_progress(page, "t.startsWith('Step') && t.includes('image ')")
    page.wait_for_selector("#txt2img_preview img")
    image = int(progress_text(page).split("image ")[1].split("/")[0])
    if image < 3:
        page.click("#txt2img_skip")  # reaches the job started before the reload
        wait_progress(page, f"t.includes('image {image + 1}/3')")
    page.click("#txt2img_interrupt")
    assert wait_finished(page) == "cancelled"
    assert progress_text(page).startswith("Interrupted")
    # the stopped images record the steps they really got, not the 150 asked for (item 6)
    page.wait_for_function(
        "() => /Steps: \\d+/.test(document.querySelector('#txt2img_infotext textarea').value)"
    )
    shown = page.input_value("#txt2img_infotext textarea")
    assert 1 <= int(shown.split("Steps: ")[1].split(",")[0]) < 150, shown

    # A job that finishes during a reload shows its images after it, once.
    set_number(page, "txt2img_batch_count", 1)
    set_number(page, "txt2img_steps", 4)
    start_generation(page, "txt2img")
    page.wait_for_function("() => (localStorage.getItem('atelier-job-txt2img') || '').length > 0")
    load(page, studio.url)
    assert wait_finished(page) == "done"
    assert page.locator("#txt2img_gallery img").count() == 1
    assert "a river in the hills" in page.input_value("#txt2img_infotext textarea")
    page.wait_for_function("() => localStorage.getItem('atelier-job-txt2img') === ''")


def history_label(page: Any, text: str) -> None:
    page.wait_for_function(
        "(t) => (document.querySelector('#history_page_label')?.textContent || '').includes(t)", arg=text
    )


def test_history_search_filters_and_delete(page, studio, artifacts_dir):
    history = studio.services.engine.history
    open_tab(page, "Text to image")
    small_settings(page, steps=3)
    set_number(page, "txt2img_batch_count", 1)
    page.fill("#txt2img_prompt textarea", "a lighthouse in the fog")
    start_generation(page, "txt2img")
    assert wait_finished(page) == "done"
    lighthouse = history.list(query="a lighthouse in the fog")
    assert len(lighthouse) == 1 and lighthouse[0].path
    open_tab(page, "History")
    page.wait_for_selector("#history_gallery img")
    page.fill("#history_search textarea", "ighthouse in the f")  # a substring
    page.press("#history_search textarea", "Enter")
    history_label(page, "· 1 image")
    page.fill("#history_search textarea", f"Seed: {lighthouse[0].seed}")  # an infotext field
    page.press("#history_search textarea", "Enter")
    history_label(page, "· 1 image")
    choose(page, "history_mode", "img2img")  # no img2img image in this module
    history_label(page, "· 0 images")
    choose(page, "history_mode", "txt2img")
    history_label(page, "· 1 image")
    page.fill("#history_since textarea", "yesterday")
    page.press("#history_since textarea", "Enter")
    history_label(page, "since: expected a date as YYYY-MM-DD")
    page.fill("#history_since textarea", "")
    page.press("#history_since textarea", "Enter")
    history_label(page, "· 1 image")

    page.locator("#history_gallery img").first.click()
    page.click("#history_delete")
    page.wait_for_selector("#history_delete_confirm", state="visible")
    shot(page, artifacts_dir, "history-delete")
    page.click("#history_delete_confirm")
    history_label(page, "· 0 images")
    assert history.get(lighthouse[0].id) is None
    assert not Path(lighthouse[0].path).exists()


def test_history_shows_xyz_grids_and_opens_their_cells(page, studio, artifacts_dir):
    payload = {
        "prompt": "a grid of circles",
        "width": 64,
        "height": 64,
        "steps": 1,
        "seed": 5,
        "save_images": True,
        "scripts": {
            "X/Y/Z plot": {"x_type": "Seed", "x_values": "1, 2", "y_type": "Steps", "y_values": "1, 2"}
        },
    }
    jobs = studio.services.jobs
    job = jobs.submit("xyz", payload)
    assert jobs.wait(job.id, timeout=120).state == "done"
    (grid,) = studio.services.engine.history.list(query="X Type: Seed", limit=5)[:1]
    assert grid.kind == "grid"
    open_tab(page, "Text to image")
    open_tab(page, "History")
    page.fill("#history_search textarea", "")  # (an earlier test may have left a search)
    page.press("#history_search textarea", "Enter")
    choose(page, "history_mode", "All")
    page.wait_for_selector("#history_gallery img")
    choose(page, "history_kind", "X/Y/Z grids")
    history_label(page, "· 1 image")
    page.locator("#history_gallery img").first.click()
    page.wait_for_function(
        "() => document.querySelector('#history_infotext textarea').value.includes('X Type: Seed')"
    )
    page.click("#history_open_cells")
    history_label(page, f"Cells of grid #{grid.id}")
    history_label(page, "· 4 images")
    shot(page, artifacts_dir, "history-grid-cells")
    page.click("#history_back")
    page.wait_for_function(
        "() => !(document.querySelector('#history_page_label')?.textContent || '').includes('Cells of')"
    )
    history_label(page, "· 1 image")  # the Kind filter is still on grids
    choose(page, "history_kind", "All")


def table_text(page: Any, elem_id: str) -> str:
    return page.locator(f"#{elem_id}").text_content() or ""


def wait_message(page: Any, text: str) -> None:
    page.wait_for_function(
        "(t) => (document.querySelector('#extensions_message')?.textContent || '').includes(t)", arg=text
    )


def test_extensions_install_disable_enable_via_api_update_and_uninstall(page, studio, tmp_path):
    from tests.studio.scripts.conftest import write_extension, zip_folder

    folder = write_extension(tmp_path / "word-tail", "word-tail", "tailword")
    open_tab(page, "Extensions")
    page.fill("#extensions_source textarea", str(folder))
    page.click("#extensions_install")
    wait_message(page, "Installed word-tail and loaded it")
    assert "word-tail" in table_text(page, "extensions_table")
    page.wait_for_function("() => document.querySelector('#scripts_table').textContent.includes('word-tail')")

    choose(page, "extensions_name", "word-tail")
    page.click("#extensions_disable")
    wait_message(page, "Disabled word-tail (disabled)")
    page.wait_for_function(
        "() => !document.querySelector('#scripts_table').textContent.includes('word-tail')"
    )
    assert studio.services.scripts.get("word-tail") is None

    # Changed through the HTTP API: the tab shows it after a reload.
    answer = page.request.post(f"{studio.url}studio/v1/extensions/word-tail/enable")
    assert answer.ok, answer.text()
    load(page, studio.url)
    open_tab(page, "Extensions")
    page.wait_for_function("() => document.querySelector('#scripts_table').textContent.includes('word-tail')")
    row = page.locator("#extensions_table tr", has_text="word-tail").first.text_content() or ""
    assert "enabled" in row

    choose(page, "extensions_name", "word-tail")
    page.click("#extensions_update")  # not a git checkout: the reason is shown
    wait_message(page, "Update failed")
    page.click("#extensions_uninstall")
    wait_message(page, "Uninstalled word-tail")
    page.wait_for_function(
        "() => !document.querySelector('#extensions_table').textContent.includes('word-tail')"
    )

    # A zip uploaded from the browser.
    archive = zip_folder(write_extension(tmp_path / "zipped", "zipped-tail", "zipword"), tmp_path / "z.zip")
    page.set_input_files("#extensions_zip input[type=file]", str(archive))
    wait_message(page, "loaded it")
    page.wait_for_function("() => document.querySelector('#extensions_table').textContent.includes('zipped')")


def test_disabling_an_extension_removes_its_controls_after_a_reload(page, studio):
    accordion = page.locator("#txt2img_alwayson0")
    if accordion.count() == 0 or "Caption stamp" not in (accordion.text_content() or ""):
        pytest.skip("the caption-stamp example extension is not installed")
    name = next(info.name for info in studio.services.extensions.list() if "caption" in info.name)
    assert page.request.post(f"{studio.url}studio/v1/extensions/{name}/disable").ok
    try:
        load(page, studio.url)
        page.wait_for_selector("#txt2img_alwayson0", state="hidden")
    finally:
        assert page.request.post(f"{studio.url}studio/v1/extensions/{name}/enable").ok
    load(page, studio.url)
    page.wait_for_selector("#txt2img_alwayson0", state="visible")
