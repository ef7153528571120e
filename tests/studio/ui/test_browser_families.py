"""The form follows the selected model's family, in a real browser (Chromium via Playwright).

Tiny Flux.1 dev and SDXL (with a refiner) models sit beside the tiny SD model: picking one
changes the sampler list, the size and the family-only fields, and what is generated carries
those fields in its infotext.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio.config import StudioConfig
from studio.infotext import parse_infotext, read_png_infotext
from tests.helpers import make_studio_config
from tests.studio.ui.test_browser import (
    choose,
    gallery_png,
    open_page,
    progress_text,
    set_number,
    shot,
    start_generation,
    wait_finished,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def ui_config(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[StudioConfig]:
    from studio.pipeline.families.tiny import build_tiny_family

    config = make_studio_config(tmp_path_factory.mktemp("ui-families"), tiny_model_dir, model_cache_size=3)
    for name, family in (("flux-tiny", "flux"), ("sdxl-tiny", "sdxl"), ("sdxl-refiner-tiny", "sdxl-refiner")):
        build_tiny_family(family, config.models_path / "Diffusers" / name)
    from tests.studio.pipeline.family_network_files import write_kohya_family_lora, write_sdxl_embedding

    sdxl = config.models_path / "Diffusers" / "sdxl-tiny"
    write_kohya_family_lora(config.models_path / "Lora" / "xl-detail.safetensors", sdxl, "sdxl", 1)
    write_sdxl_embedding(config.models_path / "embeddings" / "xlstyle.safetensors", sdxl, 3)
    yield config
    shutil.rmtree(config.models_path / "Diffusers", ignore_errors=True)


def options(page: Any, elem_id: str) -> list[str]:
    box = page.locator(f"#{elem_id} input").first
    box.click()
    listed = page.locator("ul[role=listbox]:visible li")  # the open dropdown's, not a closed one's
    listed.first.wait_for()
    items = listed.all_text_contents()
    box.press("Escape")
    page.locator("#txt2img_model_family").click()  # away from the dropdown: it closes
    page.wait_for_function(
        "() => ![...document.querySelectorAll('ul[role=listbox]')].some((list) => list.offsetParent !== null)"
    )
    return [item.replace("✓", "").strip() for item in items]


def title_of(studio: Any, name: str) -> str:
    return next(e.title for e in studio.services.engine.registry.checkpoints() if e.model_name == name)


def test_picking_a_flux_model_changes_samplers_size_and_fields(
    browser: Any, studio: Any, artifacts_dir: Path
) -> None:
    page = open_page(browser, studio.url)
    choose(page, "txt2img_model", title_of(studio, "tiny"))
    page.wait_for_selector("#txt2img_distilled_cfg", state="hidden")
    assert "SD 1.x" in page.text_content("#txt2img_model_family")
    assert "DPM++ 2M" in options(page, "txt2img_sampler")
    choose(page, "txt2img_model", title_of(studio, "flux-tiny"))
    page.wait_for_selector("#txt2img_distilled_cfg", state="visible")
    assert "Flux.1 dev" in page.text_content("#txt2img_model_family")
    assert page.locator("#txt2img_flow_shift").is_visible()
    assert not page.locator("#txt2img_refiner").is_visible()
    assert options(page, "txt2img_sampler") == ["Euler a", "Euler", "LCM"]
    assert page.locator("#txt2img_sampler input").input_value() == "Euler"
    # the schedule types of Euler's flow-matching variant (Uniform and SGM Uniform do not apply)
    assert options(page, "txt2img_scheduler") == studio.services.engine.samplers.schedule_types_for(
        "Euler", True
    )
    assert "SGM Uniform" not in options(page, "txt2img_scheduler")
    assert page.locator("#txt2img_width input[type=number]").first.input_value() == "64"  # its native size
    assert page.locator("#txt2img_cfg_scale input[type=number]").first.input_value() == "1"
    set_number(page, "txt2img_steps", 2)
    set_number(page, "txt2img_distilled_cfg", 5)
    set_number(page, "txt2img_flow_shift", 2)
    page.fill("#txt2img_prompt textarea", "a red cat")
    start_generation(page, "txt2img")
    assert wait_finished(page) == "done", progress_text(page)
    parsed = parse_infotext(read_png_infotext(gallery_png(page)) or "")
    assert parsed["Model"] == "flux-tiny"
    assert parsed["Distilled CFG Scale"] == "5" and parsed["Shift"] == "2"
    shot(page, artifacts_dir, "txt2img-flux")
    page.context.close()


def test_an_sdxl_model_takes_a_refiner_from_the_form(browser: Any, studio: Any, artifacts_dir: Path) -> None:
    page = open_page(browser, studio.url)
    choose(page, "txt2img_model", title_of(studio, "sdxl-tiny"))
    page.wait_for_selector("#txt2img_refiner", state="visible")
    assert not page.locator("#txt2img_distilled_cfg").is_visible()
    assert "DPM++ 2M" in options(page, "txt2img_sampler")
    choose(page, "txt2img_refiner", title_of(studio, "sdxl-refiner-tiny"))
    set_number(page, "txt2img_refiner_switch_at", 0.5)
    set_number(page, "txt2img_steps", 4)
    set_number(page, "txt2img_width", 64)
    set_number(page, "txt2img_height", 64)
    page.fill("#txt2img_prompt textarea", "a green house")
    start_generation(page, "txt2img")
    assert wait_finished(page) == "done", progress_text(page)
    parsed = parse_infotext(read_png_infotext(gallery_png(page)) or "")
    assert parsed["Model"] == "sdxl-tiny"
    assert parsed["Refiner"].startswith("sdxl-refiner-tiny [") and parsed["Refiner switch at"] == "0.5"
    shot(page, artifacts_dir, "txt2img-sdxl-refiner")
    page.context.close()


def test_sdxl_takes_lora_weights_embeddings_and_hires_fix_from_the_form(
    browser: Any, studio: Any, artifacts_dir: Path
) -> None:
    import io

    from PIL import Image

    page = open_page(browser, studio.url)
    choose(page, "txt2img_model", title_of(studio, "sdxl-tiny"))
    page.wait_for_selector("#txt2img_refiner", state="visible")
    set_number(page, "txt2img_steps", 2)
    set_number(page, "txt2img_width", 64)
    set_number(page, "txt2img_height", 64)
    page.fill("#txt2img_prompt textarea", "a (red:1.3) cat, xlstyle <lora:xl-detail:0.8>")
    page.locator("#txt2img_hr").get_by_text("Hires. fix").first.click()
    page.locator("#txt2img_enable_hr input").check()
    set_number(page, "txt2img_hr_scale", 1.5)
    set_number(page, "txt2img_hires_steps", 2)
    set_number(page, "txt2img_denoising_strength", 0.5)
    start_generation(page, "txt2img")
    assert wait_finished(page) == "done", progress_text(page)
    png = gallery_png(page)
    assert Image.open(io.BytesIO(png)).size == (96, 96)
    parsed = parse_infotext(read_png_infotext(png) or "")
    assert parsed["Model"] == "sdxl-tiny" and parsed["Hires upscale"] == "1.5"
    assert parsed["Lora hashes"].startswith("xl-detail: ") and parsed["TI hashes"].startswith("xlstyle: ")
    shot(page, artifacts_dir, "txt2img-sdxl-lora-hires")
    page.context.close()
