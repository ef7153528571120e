"""The token counters under the prompt boxes, in a real browser (Chromium via Playwright)."""

from __future__ import annotations

from typing import Any

import pytest

from studio.infotext import parse_infotext
from tests.studio.ui.test_browser import open_page, set_number, start_generation, wait_finished

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def wait_count(page: Any, elem_id: str, tokens: int, capacity: int) -> None:
    page.wait_for_selector(
        f"#{elem_id} .atelier-token-counter[data-tokens='{tokens}'][data-capacity='{capacity}']",
        timeout=30_000,
    )


def test_counters_follow_the_prompt_the_steps_and_the_tab(browser, studio, artifacts_dir):
    page = open_page(browser, studio.url)
    wait_count(page, "txt2img_token_counter", 0, 75)
    page.fill("#txt2img_prompt textarea", "a red (circle:1.2)")
    wait_count(page, "txt2img_token_counter", 3, 75)
    assert page.text_content("#txt2img_token_counter").strip() == "3/75"
    # Past 75 tokens a second chunk starts: A1111 shows 77/150.
    page.fill("#txt2img_prompt textarea", ", ".join(["red circle"] * 26))
    wait_count(page, "txt2img_token_counter", 77, 150)
    # An edit at half the steps: the count is the longer text's; it follows the step count.
    page.fill("#txt2img_prompt textarea", "a [blue square green:red:0.5] <lora:x:1>")
    wait_count(page, "txt2img_token_counter", 4, 75)
    set_number(page, "txt2img_steps", 1)
    wait_count(page, "txt2img_token_counter", 2, 75)  # at 1 step 0.5 is step 0: only "a red"
    page.fill("#txt2img_negative_prompt textarea", "a blue square")
    wait_count(page, "txt2img_negative_token_counter", 3, 75)
    page.screenshot(path=str(artifacts_dir / "token-counter.png"), full_page=False)
    # The img2img tab has its own.
    page.click("#tab_img2img-button")
    page.fill("#img2img_prompt textarea", "a red circle BREAK blue")
    wait_count(page, "img2img_token_counter", 76, 150)
    page.context.close()


def test_prompts_with_syntax_generate_and_keep_their_text_in_the_infotext(browser, studio):
    page = open_page(browser, studio.url)
    set_number(page, "txt2img_steps", 3)
    set_number(page, "txt2img_width", 64)
    set_number(page, "txt2img_height", 64)
    prompt = "a [red:blue:0.5] (circle:1.3), [square|circle]"
    page.fill("#txt2img_prompt textarea", prompt)
    start_generation(page, "txt2img")
    assert wait_finished(page) == "done"
    assert parse_infotext(page.input_value("#txt2img_infotext textarea"))["Prompt"] == prompt
    # Composable parts generate; with guidance off they are refused, naming CFG scale.
    page.fill("#txt2img_prompt textarea", "a red circle AND a blue square :0.5")
    start_generation(page, "txt2img")
    assert wait_finished(page) == "done"
    set_number(page, "txt2img_cfg_scale", 1)
    start_generation(page, "txt2img")
    assert wait_finished(page) == "failed"
    assert "cfg_scale:" in (page.text_content("#txt2img_progress_text") or "")
    page.context.close()
