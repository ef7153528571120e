"""LoRA tags and embeddings from the UI, in Chromium: typed into the prompt they change the
picture and the infotext names their hashes; PNG Info sends the tags back to txt2img; a tag
naming no file fails with the nearest name shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from studio.config import StudioConfig
from studio.infotext import parse_infotext
from tests.studio.pipeline import network_files as files
from tests.studio.ui.test_browser import (
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
    """A LoRA and an embedding in the studio's model folders before the server starts."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(tiny_model_dir, local_files_only=True)
    models = ui_config.models_path
    files.write_kohya(models / "Lora" / "detail.safetensors", pipe, seed=1)
    ids = pipe.tokenizer.convert_tokens_to_ids(["big</w>", "dog</w>"])
    vectors = pipe.text_encoder.get_input_embeddings().weight[ids].detach()
    files.write_embedding(models / "embeddings" / "bigdog.safetensors", vectors)


def generate(page: Any, prompt: str, negative: str = "") -> str:
    page.fill("#txt2img_negative_prompt textarea", negative)
    page.fill("#txt2img_prompt textarea", prompt)
    start_generation(page, "txt2img")
    return wait_finished(page)


def test_lora_and_embedding_from_the_prompt_box(installed, browser, studio, artifacts_dir, tmp_path):
    page = open_page(browser, studio.url)
    small_settings(page)
    seed = page.locator("#txt2img_seed input").first
    seed.fill("5")
    seed.press("Tab")
    assert generate(page, "a red circle") == "done"
    plain = gallery_png(page)
    assert generate(page, "a red circle <lora:detail:0.9>", "bigdog") == "done"
    styled = gallery_png(page)
    assert pixels(styled) != pixels(plain)
    parsed = parse_infotext(page.input_value("#txt2img_infotext textarea"))
    assert parsed["Prompt"] == "a red circle <lora:detail:0.9>"
    assert parsed["Lora hashes"].startswith("detail: ") and len(parsed["Lora hashes"]) == len("detail: ") + 12
    assert parsed["TI hashes"].startswith("bigdog: ")
    shot(page, artifacts_dir, "txt2img-lora")

    # PNG Info -> txt2img brings the tag back with the rest of the parameters
    path = tmp_path / "styled.png"
    path.write_bytes(styled)
    page.fill("#txt2img_prompt textarea", "something else")
    page.click("#tab_pnginfo-button")
    page.set_input_files("#pnginfo_file input[type=file]", str(path))
    page.wait_for_function(
        "() => document.querySelector('#pnginfo_infotext textarea').value.includes('Lora hashes')"
    )
    page.click("#pnginfo_send_txt2img")
    page.wait_for_function(
        "() => document.querySelector('#txt2img_prompt textarea').value == 'a red circle <lora:detail:0.9>'"
    )
    assert generate(page, page.input_value("#txt2img_prompt textarea"), "bigdog") == "done"
    assert pixels(gallery_png(page)) == pixels(styled)

    # a tag naming no file: the job fails, saying which tag and what is near it
    assert generate(page, "a red circle <lora:detial:1>") == "failed"
    message = progress_text(page)
    assert "<lora:detial:1>" in message and "nearest: detail" in message
    shot(page, artifacts_dir, "txt2img-lora-missing")
    page.context.close()
