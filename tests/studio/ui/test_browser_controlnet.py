"""A ControlNet unit from the txt2img tab, in Chromium: upload an image, pick canny, the preview
shows the edges, and the generated image carries the unit in its infotext."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.config import StudioConfig
from studio.infotext import parse_infotext
from tests.studio.pipeline.controlnet_files import shapes_png, write_tiny_controlnet
from tests.studio.ui.test_browser import (
    choose,
    gallery_png,
    open_page,
    pixels,
    progress_text,
    shot,
    small_settings,
    start_generation,
    wait_finished,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def installed(ui_config: StudioConfig, tiny_model_dir: Path) -> None:
    """The tiny ControlNet in models/ControlNet before the server starts."""
    write_tiny_controlnet(tiny_model_dir, ui_config.models_path)


def test_canny_unit_preview_and_generate(installed, browser, studio, artifacts_dir, tmp_path):
    page = open_page(browser, studio.url)
    small_settings(page, steps=3)
    seed = page.locator("#txt2img_seed input").first
    seed.fill("7")
    seed.press("Tab")
    page.fill("#txt2img_prompt textarea", "a red circle")
    start_generation(page, "txt2img")
    assert wait_finished(page) == "done", progress_text(page)
    plain = gallery_png(page)

    page.locator("#txt2img_controlnet").get_by_text("ControlNet").first.click()
    unit = "txt2img_controlnet_unit0"
    source = tmp_path / "shapes.png"
    source.write_bytes(shapes_png())
    page.set_input_files(f"#{unit}_image input[type=file]", str(source))
    page.wait_for_selector(f"#{unit}_image img")
    choose(page, f"{unit}_module", "canny")
    page.click(f"#{unit}_run_preview")
    page.wait_for_selector(f"#{unit}_preview img", timeout=30_000)
    page.locator(f"#{unit}_enable input").check()
    shot(page, artifacts_dir, "txt2img-controlnet-preview")

    start_generation(page, "txt2img")
    assert wait_finished(page) == "done", progress_text(page)
    assert pixels(gallery_png(page)) != pixels(plain)
    parsed = parse_infotext(page.input_value("#txt2img_infotext textarea"))
    assert parsed["ControlNet 0"].startswith("Module: canny, Model: tiny_canny [")
    assert "Control Mode: Balanced" in parsed["ControlNet 0"]
    shot(page, artifacts_dir, "txt2img-controlnet")
    page.context.close()
