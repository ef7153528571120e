"""The prompt library in a real browser (Debian's Chromium driven by Playwright): the Extra
Networks cards, Ctrl+Up/Down weights, the Styles picker and editor, wildcards, and PNG Info
reading styles and old sampler names back."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from studio.config import StudioConfig
from studio.infotext import encode_png, parse_infotext
from tests.helpers import make_studio_config
from tests.studio.ui.test_browser import (
    gallery_png,
    open_page,
    shot,
    small_settings,
    start_generation,
    wait_finished,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STYLES_CSV = 'name,prompt,negative_prompt\r\nPhoto,"photo of {prompt}, sharp",blurry\r\n'


@pytest.fixture(scope="module")
def ui_config(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> StudioConfig:
    """A studio with a style, wildcards, a LoRA with A1111 / Civitai Helper sidecars, an
    embedding and a second checkpoint in a folder, all there before the page is built."""
    config = make_studio_config(tmp_path_factory.mktemp("ui-library"), tiny_model_dir)
    config.styles_file.write_text(STYLES_CSV, encoding="utf-8")
    config.wildcards_path.mkdir(parents=True)
    (config.wildcards_path / "shapes.txt").write_text("circle\nring\nsquare\n", encoding="utf-8")
    lora = config.models_path / "Lora" / "ink.safetensors"
    lora.write_bytes(b"listed, never loaded here")
    lora.with_suffix(".json").write_text(
        json.dumps({"activation text": "ink wash", "preferred weight": 0.7, "negative text": "colour"}),
        encoding="utf-8",
    )
    lora.with_name("ink.civitai.info").write_text(
        json.dumps({"trainedWords": ["inkstyle"]}), encoding="utf-8"
    )
    preview = io.BytesIO()
    Image.new("RGB", (16, 16), (20, 20, 20)).save(preview, format="PNG")
    lora.with_name("ink.preview.png").write_bytes(preview.getvalue())
    (config.models_path / "embeddings" / "badhands.safetensors").write_bytes(b"listed only")
    shutil.copytree(tiny_model_dir, config.models_path / "Diffusers" / "anime" / "tiny2")
    return config


def prompt_value(page: Any, box: str = "txt2img_prompt") -> str:
    return page.input_value(f"#{box} textarea")


def wait_value(page: Any, box: str, expected: str) -> None:
    page.wait_for_function(
        "([id, v]) => document.querySelector(`#${id} textarea`).value === v", arg=[box, expected]
    )


def put_cursor(page: Any, box: str, start: int, end: int | None = None) -> None:
    page.evaluate(
        "([id, s, e]) => { const t = document.querySelector(`#${id} textarea`); t.focus(); t.setSelectionRange(s, e); }",
        [box, start, start if end is None else end],
    )


def styles_picked(page: Any, prefix: str = "txt2img") -> list[str]:
    return page.eval_on_selector_all(f"#{prefix}_styles .token", "els => els.map(e => e.textContent.trim())")


def test_extra_network_cards_and_ctrl_arrows(browser, studio, artifacts_dir):
    page = open_page(browser, studio.url)
    page.click(
        "#txt2img_extra_networks button:has-text('Extra networks'), #txt2img_extra_networks .label-wrap"
    )
    page.click("#txt2img_networks_lora-button")
    card = page.locator("#txt2img_cards_lora .atelier-card[data-name=ink]")
    card.wait_for()
    assert "ink wash" in card.inner_text()
    assert card.locator("img").evaluate("img => img.complete && img.naturalWidth") == 16

    # the search filters as you type
    page.fill("#txt2img_network_search textarea, #txt2img_network_search input", "zzz")
    card.wait_for(state="hidden")
    page.fill("#txt2img_network_search textarea, #txt2img_network_search input", "WASH")
    card.wait_for(state="visible")

    # a click puts the tag, with the preferred weight and trigger words, at the cursor
    page.fill("#txt2img_prompt textarea", "a red circle")
    put_cursor(page, "txt2img_prompt", 1)
    card.click()
    wait_value(page, "txt2img_prompt", "a <lora:ink:0.7> ink wash red circle")
    assert prompt_value(page, "txt2img_negative_prompt") == "(colour:1)"
    shot(page, artifacts_dir, "extra-networks-lora")

    # Ctrl+Up/Down: the LoRA weight in steps of 0.05, a word wrapped in (word:1.1) in 0.1 steps
    put_cursor(page, "txt2img_prompt", 5)
    page.keyboard.press("Control+ArrowUp")
    wait_value(page, "txt2img_prompt", "a <lora:ink:0.75> ink wash red circle")
    text = prompt_value(page)
    put_cursor(page, "txt2img_prompt", text.index("red") + 1)
    page.keyboard.press("Control+ArrowUp")
    wait_value(page, "txt2img_prompt", "a <lora:ink:0.75> ink wash (red:1.1) circle")
    page.keyboard.press("Control+ArrowUp")
    wait_value(page, "txt2img_prompt", "a <lora:ink:0.75> ink wash (red:1.2) circle")
    page.keyboard.press("Control+ArrowDown")
    page.keyboard.press("Control+ArrowDown")
    wait_value(page, "txt2img_prompt", "a <lora:ink:0.75> ink wash red circle")
    start = prompt_value(page).index("ink wash")
    put_cursor(page, "txt2img_prompt", start, start + len("ink wash"))
    page.keyboard.press("Control+ArrowDown")
    wait_value(page, "txt2img_prompt", "a <lora:ink:0.75> (ink wash:0.9) red circle")

    # the search still holds for a tab drawn later
    page.click("#txt2img_networks_embedding-button")
    badhands = page.locator("#txt2img_cards_embedding .atelier-card[data-name=badhands]")
    badhands.wait_for(state="attached")
    assert not badhands.is_visible()
    page.fill("#txt2img_network_search textarea, #txt2img_network_search input", "")
    badhands.wait_for(state="visible")

    # an embedding goes to the prompt box used last (here the negative prompt)
    put_cursor(page, "txt2img_negative_prompt", len("(colour:1)"))
    page.locator("#txt2img_cards_embedding .atelier-card[data-name=badhands]").click()
    wait_value(page, "txt2img_negative_prompt", "(colour:1) badhands")
    page.click("#txt2img_networks_wildcard-button")
    put_cursor(page, "txt2img_prompt", len(prompt_value(page)))
    page.locator("#txt2img_cards_wildcard .atelier-card[data-name=shapes]").click()
    assert prompt_value(page).endswith("red circle __shapes__")

    # a checkpoint card selects the checkpoint
    page.click("#txt2img_networks_checkpoint-button")
    tiny2 = page.locator("#txt2img_cards_checkpoint .atelier-card[data-name=tiny2]")
    tiny2.click()
    page.wait_for_function(
        "() => document.querySelector('#txt2img_model input').value.startsWith('anime/tiny2 [')"
    )
    shot(page, artifacts_dir, "extra-networks-checkpoints")
    page.context.close()


def test_styles_wildcards_and_png_info_round_trip(browser, studio, artifacts_dir, tmp_path):
    page = open_page(browser, studio.url)
    small_settings(page, steps=3)
    # a style made in the editor shows up in the picker (and in styles.csv)
    page.click("#txt2img_styles_editor button:has-text('Edit styles'), #txt2img_styles_editor .label-wrap")
    page.fill("#txt2img_style_name input", "Warm")
    page.fill("#txt2img_style_prompt textarea", "warm light")
    page.click("#txt2img_style_save")
    page.wait_for_selector("#txt2img_style_message :text('Saved style')")
    assert "Warm,warm light," in studio.config.styles_file.read_text(encoding="utf-8-sig")

    page.fill("#txt2img_prompt textarea", "a {red|blue} __shapes__")
    for name in ("Photo", "Warm"):
        page.click("#txt2img_styles input")
        page.locator("ul[role=listbox] li", has_text=name).first.click()
    page.keyboard.press("Escape")
    assert styles_picked(page) == ["Photo", "Warm"]
    start_generation(page, "txt2img")
    assert wait_finished(page) == "done"
    parsed = parse_infotext(page.input_value("#txt2img_infotext textarea"))
    assert parsed["Template"] == "photo of a {red|blue} __shapes__, sharp, warm light"
    prompt = parsed["Prompt"]
    assert prompt.startswith("photo of a ") and prompt.endswith(", sharp, warm light") and "__" not in prompt
    assert parsed["Negative prompt"] == "blurry"
    png = tmp_path / "styled.png"
    png.write_bytes(gallery_png(page))

    # PNG Info -> txt2img: the prompt without the styles, the styles picked again
    page.fill("#txt2img_prompt textarea", "something else")
    page.click("#tab_pnginfo-button")
    page.set_input_files("#pnginfo_file input[type=file]", str(png))
    page.wait_for_function(
        "() => document.querySelector('#pnginfo_infotext textarea').value.includes('Template')"
    )
    page.click("#pnginfo_send_txt2img")
    resolved = prompt[len("photo of ") : -len(", sharp, warm light")]
    wait_value(page, "txt2img_prompt", resolved)
    page.wait_for_function("() => document.querySelectorAll('#txt2img_styles .token').length === 2")
    assert styles_picked(page) == ["Photo", "Warm"]
    assert prompt_value(page, "txt2img_negative_prompt") == ""
    shot(page, artifacts_dir, "styles-from-png-info")

    # an A1111 < 1.9 infotext: "DPM++ 2M Karras" comes back as sampler + schedule type
    old = tmp_path / "old.png"
    old.write_bytes(
        encode_png(
            Image.new("RGB", (64, 64)),
            "a cat\nSteps: 5, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1, Size: 64x64",
        )
    )
    page.context.close()
    page = open_page(browser, studio.url)  # a fresh PNG Info drop zone
    page.click("#tab_pnginfo-button")
    page.set_input_files("#pnginfo_file input[type=file]", str(old))
    page.wait_for_function(
        "() => document.querySelector('#pnginfo_infotext textarea').value.includes('Karras')"
    )
    page.click("#pnginfo_send_txt2img")
    wait_value(page, "txt2img_prompt", "a cat")
    page.wait_for_function("() => document.querySelector('#txt2img_scheduler input').value === 'Karras'")
    assert page.locator("#txt2img_sampler input").input_value() == "DPM++ 2M"
    page.context.close()
