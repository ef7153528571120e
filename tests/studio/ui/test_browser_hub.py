"""The Hub tab in Chromium, against a real studio and a real seeded hub server on loopback:
sync, search as you type, open a model, download it through a proxy that cuts the connection
once (the download resumes with Range and is hash-verified), insert its tag and generate with
it, see the local file linked; then stop the hub server and browse the mirror offline."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from hub.server.seed import seed_catalog
from studio.config import StudioConfig
from studio.infotext import parse_infotext
from tests.hub.server.conftest import model_metadata, register, running_hub, upload_model
from tests.hub.server.proxy import CuttingProxy, cutting_proxy
from tests.studio.pipeline import network_files as files
from tests.studio.ui.test_browser import open_page, shot, small_settings, start_generation, wait_finished

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def png_bytes(color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 48), color).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def hub_behind_proxy(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path
) -> Iterator[tuple[ExitStack, str, CuttingProxy]]:
    """A seeded hub server with a real LoRA uploaded, and a proxy that cuts its first download."""
    from diffusers import StableDiffusionPipeline

    folder = tmp_path_factory.mktemp("hub-server")
    seed_catalog(folder, 30, seed=5, unique_files=5)
    pipe = StableDiffusionPipeline.from_pretrained(tiny_model_dir, local_files_only=True)
    lora = files.write_kohya(tmp_path_factory.mktemp("lora") / "wash.safetensors", pipe, seed=1)
    server = ExitStack()  # the test closes it to stop the hub server mid-way
    hub = server.enter_context(running_hub(folder))
    with server, cutting_proxy(int(hub.url.rsplit(":", 1)[1]), 100_000) as proxy:
        api = f"http://127.0.0.1:{proxy.port}/api/v1"  # the catalog's URLs name the proxy
        key = register(api, "painter")
        metadata = model_metadata("Watercolour Wash", baseModel="SD 1.5", trainedWords=["wet paper"])
        response = upload_model(
            api, key, metadata, [("wash.safetensors", lora.read_bytes())], [png_bytes("teal")]
        )
        assert response.status_code == 201, response.text
        yield server, hub.url, proxy


def open_hub(page: Any) -> None:
    page.click("#tab_hub-button")
    page.wait_for_selector("#hub_query")


def test_find_download_use_and_browse_offline(
    browser: Any, studio: Any, hub_behind_proxy: Any, artifacts_dir: Path, ui_config: StudioConfig
) -> None:
    server, server_url, proxy = hub_behind_proxy
    page = open_page(browser, studio.url)
    open_hub(page)
    page.fill("#hub_server", f"http://127.0.0.1:{proxy.port}")
    page.click("#hub_sync")
    page.wait_for_function(
        "() => /Last sync: (?!never)/.test(document.querySelector('#hub_sync_status').textContent)"
        " && !document.querySelector('#hub_sync_status').textContent.includes('Syncing')",
        timeout=120_000,
    )
    shot(page, artifacts_dir, "hub-1-synced")

    page.locator("#hub_query").press_sequentially("waterc", delay=40)  # as you type: a prefix
    page.wait_for_selector("#hub_results .hub-item:has-text('Watercolour Wash')")
    shot(page, artifacts_dir, "hub-2-search")
    page.click("#hub_results .hub-item:has-text('Watercolour Wash')")
    page.wait_for_selector("#hub_model_name:has-text('Watercolour Wash')")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#hub_model img.hub-preview')].some(i => i.naturalWidth > 0)"
    )
    assert "wet paper" in page.inner_text("#hub_model")
    assert page.locator("#hub_model .hub-description script").count() == 0
    shot(page, artifacts_dir, "hub-3-model-page")

    page.click("#hub_model button.hub-download")
    page.wait_for_selector(".hub-download-row[data-status=done]", timeout=120_000)
    assert "hash verified" in page.inner_text("#hub_downloads")
    ranges = proxy.range_requests()
    assert len(ranges) == 1 and int(ranges[0].removeprefix("bytes=").rstrip("-")) > 0  # resumed
    lora = ui_config.models_path / "Lora" / "wash.safetensors"
    assert lora.is_file() and lora.with_suffix(".civitai.info").is_file()
    assert lora.with_suffix(".preview.png").is_file()
    page.wait_for_selector("#hub_model .hub-on-disk")
    shot(page, artifacts_dir, "hub-4-downloaded")

    page.click("#hub_model button.hub-insert")
    page.click("#tab_txt2img-button")
    assert page.input_value("#txt2img_prompt textarea").endswith("<lora:wash:1>, wet paper")
    small_settings(page)
    start_generation(page, "txt2img")
    assert wait_finished(page) == "done"
    parsed = parse_infotext(page.input_value("#txt2img_infotext textarea"))
    assert parsed["Lora hashes"].startswith("wash: ")
    shot(page, artifacts_dir, "hub-5-generated")

    open_hub(page)
    page.click("#hub_scan")
    page.wait_for_selector(".hub-local-file.hub-linked:has-text('Watercolour Wash')")
    assert page.locator(".hub-local-file.hub-unlinked").count() >= 1  # the starter model
    shot(page, artifacts_dir, "hub-6-local-files")

    # the hub server goes away: the mirror still answers, previews included
    server.close()  # the hub server stops (the proxy in front of it finds nobody)
    page.close()
    page = open_page(browser, studio.url)
    open_hub(page)
    page.locator("#hub_query").press_sequentially("watercolour", delay=20)
    page.click("#hub_results .hub-item:has-text('Watercolour Wash')")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#hub_model img.hub-preview')].some(i => i.naturalWidth > 0)"
    )
    page.wait_for_selector("#hub_model .hub-on-disk")
    # the proxy's listener outlives the server (a closed socket does not wake its accept):
    # ask the stopped server itself
    page.fill("#hub_server", server_url)
    page.click("#hub_sync")
    page.wait_for_selector("#hub_sync_status .hub-offline", timeout=60_000)
    shot(page, artifacts_dir, "hub-7-offline")
