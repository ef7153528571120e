"""Styles, wildcards, sampler aliases, A1111 model names and Extra Networks cards over HTTP,
against a real server on loopback (webuiapi for the A1111 side)."""

from __future__ import annotations

import io
import json
import shutil

import pytest
import requests
import webuiapi
from PIL import Image

from studio.infotext import parse_infotext

from .conftest import LiveServer

STYLES_CSV = (
    "name,prompt,negative_prompt\r\n"
    '"Photo","photo of {prompt}, sharp focus","blurry"\r\n'
    '"Warm","warm light",""\r\n'
)


@pytest.fixture(scope="module")
def api(live: LiveServer) -> webuiapi.WebUIApi:
    return webuiapi.WebUIApi(host="127.0.0.1", port=live.port, sampler="Euler a", steps=2)


@pytest.fixture(scope="module")
def styled(live: LiveServer) -> LiveServer:
    """The server with an A1111 styles.csv dropped into its data dir."""
    live.services.config.styles_file.write_text(STYLES_CSV, encoding="utf-8")
    return live


def small(**changes: object) -> dict:
    values = {"prompt": "a red circle", "width": 64, "height": 64, "steps": 2, "seed": 3}
    values.update(changes)
    return values


def test_prompt_styles_in_a1111_shape(api: webuiapi.WebUIApi, styled: LiveServer) -> None:
    assert api.get_prompt_styles() == [
        {"name": "Photo", "prompt": "photo of {prompt}, sharp focus", "negative_prompt": "blurry"},
        {"name": "Warm", "prompt": "warm light", "negative_prompt": ""},
    ]


def test_styles_on_txt2img_and_png_info_finds_them_back(api: webuiapi.WebUIApi, styled: LiveServer) -> None:
    result = api.txt2img(**small(styles=["Photo", "Warm"], negative_prompt="ugly"))
    infotext = result.image.info["parameters"]
    parsed = parse_infotext(infotext)
    assert parsed["Prompt"] == "photo of a red circle, sharp focus, warm light"
    assert parsed["Negative prompt"] == "ugly, blurry"
    assert result.info["styles"] == ["Photo", "Warm"] and result.info["prompt"] == parsed["Prompt"]
    info = api.png_info(result.image)
    assert info.parameters["Styles array"] == ["Photo", "Warm"]
    assert info.parameters["Prompt"] == "a red circle" and info.parameters["Negative prompt"] == "ugly"
    # A1111's "Infotext: handle styles" option
    api.set_options({"infotext_styles": "Ignore"})
    try:
        assert "Styles array" not in api.png_info(result.image).parameters
    finally:
        api.set_options({"infotext_styles": "Apply if any"})
    bad = requests.post(f"{styled.url}/sdapi/v1/txt2img", json=small(styles=["Photo", "Nope"]), timeout=60)
    assert bad.status_code == 422 and bad.json()["field"] == "styles" and "'Nope'" in bad.text


def test_style_crud_and_import(styled: LiveServer) -> None:
    url = f"{styled.url}/studio/v1/styles"
    made = requests.put(f"{url}/Ink%2FWash", json={"prompt": "ink wash, {prompt}"}, timeout=10)
    assert made.status_code == 200 and made.json()["name"] == "Ink/Wash"
    assert requests.get(f"{url}/Ink%2FWash", timeout=10).json()["prompt"] == "ink wash, {prompt}"
    renamed = requests.put(f"{url}/Ink%2FWash", json={"name": "Ink", "prompt": "ink, {prompt}"}, timeout=10)
    assert renamed.json() == {"name": "Ink", "prompt": "ink, {prompt}", "negative_prompt": ""}
    assert [s["name"] for s in requests.get(url, timeout=10).json()] == ["Photo", "Warm", "Ink"]
    bad = requests.put(f"{url}/X", json={"name": " ", "prompt": "p"}, timeout=10)
    assert bad.status_code == 422 and bad.json()["field"] == "name"
    assert requests.delete(f"{url}/Ink", timeout=10).json() == {"deleted": "Ink"}
    assert requests.delete(f"{url}/Ink", timeout=10).status_code == 404
    imported = requests.post(
        f"{url}/import",
        data="\ufeffname,prompt,negative_prompt\r\nNeon,neon glow,\r\n".encode(),
        headers={"Content-Type": "text/csv"},
        timeout=10,
    )
    assert imported.json()["imported"] == ["Neon"]
    not_csv = requests.post(f"{url}/import", data=b"a,b\n1,2\n", timeout=10)
    assert not_csv.status_code == 422 and not_csv.json()["field"] == "file"
    # the file on disk is A1111's format, so A1111 itself could read it back
    raw = styled.services.config.styles_file.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfname,prompt,negative_prompt\r\n") and b"Neon,neon glow," in raw


def test_wildcards_chosen_per_image_seed(api: webuiapi.WebUIApi, live: LiveServer) -> None:
    folder = live.services.config.wildcards_path / "shapes"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "round.txt").write_text("circle\ndisc\nring\nball\n", encoding="utf-8")
    result = api.txt2img(**small(prompt="a {red|blue} __shapes/round__", batch_size=3, seed=20))
    prompts = result.info["all_prompts"]
    assert len(prompts) == 3 and all("__" not in p and "{" not in p for p in prompts)
    for image, prompt in zip(result.images, prompts, strict=True):
        parsed = parse_infotext(image.info["parameters"])
        assert parsed["Prompt"] == prompt and parsed["Template"] == "a {red|blue} __shapes/round__"
    again = api.txt2img(**small(prompt="a {red|blue} __shapes/round__", seed=result.info["all_seeds"][1]))
    assert again.info["prompt"] == prompts[1]
    missing = requests.post(f"{live.url}/sdapi/v1/txt2img", json=small(prompt="__nope__"), timeout=60)
    assert missing.status_code == 422 and missing.json()["field"] == "prompt"


def test_sampler_aliases_listed_and_accepted(api: webuiapi.WebUIApi, live: LiveServer) -> None:
    samplers = {s["name"]: s for s in api.get_samplers()}
    assert samplers["Euler a"]["aliases"] == ["k_euler_a", "k_euler_ancestral"]
    assert "DPM++ 2M Karras" in samplers["DPM++ 2M"]["aliases"] and samplers["DPM++ 2M"]["options"] == {}
    result = api.txt2img(**small(sampler_name="DPM++ 2M Karras"))
    parsed = parse_infotext(result.image.info["parameters"])
    assert (parsed["Sampler"], parsed["Schedule type"]) == ("DPM++ 2M", "Karras")
    result = api.txt2img(**small(sampler_name="k_euler_a"))
    assert result.info["sampler_name"] == "Euler a"
    # native route too: the queued payload holds the split names
    job = requests.post(
        f"{live.url}/studio/v1/jobs",
        json={"payload": {**small(), "sampler_name": "k_dpmpp_2m_ka", "save_images": False}},
        timeout=30,
    ).json()
    stored = requests.get(f"{live.url}/studio/v1/jobs/{job['id']}?payload=true", timeout=30).json()
    assert (stored["payload"]["sampler_name"], stored["payload"]["scheduler"]) == ("DPM++ 2M", "Karras")


def test_a1111_model_names_for_models_in_folders(
    api: webuiapi.WebUIApi, live: LiveServer, tiny_model_dir
) -> None:
    shutil.copytree(tiny_model_dir, live.services.config.models_path / "Diffusers" / "anime" / "tiny2")
    requests.post(f"{live.url}/sdapi/v1/refresh-checkpoints", timeout=30).raise_for_status()
    models = {m["title"].split(" [")[0]: m for m in api.get_sd_models()}
    assert models["anime/tiny2"]["model_name"] == "anime_tiny2"
    result = api.txt2img(**small(override_settings={"sd_model_checkpoint": "anime_tiny2"}))
    assert result.info["sd_model_name"] == "tiny2"
    assert parse_infotext(result.image.info["parameters"])["Model hash"] == models["anime/tiny2"]["hash"]


def test_network_cards_with_sidecars_and_previews(live: LiveServer) -> None:
    lora_dir = live.services.config.models_path / "Lora" / "styles"
    lora_dir.mkdir(parents=True, exist_ok=True)
    (lora_dir / "ink.safetensors").write_bytes(b"not loaded here")
    (lora_dir / "ink.json").write_text(
        json.dumps({"activation text": "ink wash", "preferred weight": 0.7, "negative text": "colour"}),
        encoding="utf-8",
    )
    (lora_dir / "ink.civitai.info").write_text(
        json.dumps({"trainedWords": ["inkstyle"], "model": {"name": "Ink"}, "name": "v1"}), encoding="utf-8"
    )
    preview = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(preview, format="PNG")
    (lora_dir / "ink.preview.png").write_bytes(preview.getvalue())
    requests.post(f"{live.url}/sdapi/v1/refresh-loras", timeout=30).raise_for_status()
    cards = requests.get(f"{live.url}/studio/v1/networks", params={"kind": "lora"}, timeout=30).json()
    (card,) = [c for c in cards["items"] if c["name"] == "ink"]
    assert card["prompt"] == "<lora:ink:0.7> ink wash" and card["negative_prompt"] == "(colour:1)"
    assert card["trigger_words"] == "ink wash" and card["civitai_name"] == "Ink / v1"
    image = requests.get(f"{live.url}{card['preview_url']}", timeout=30)
    assert image.headers["content-type"] == "image/png" and image.content == preview.getvalue()
    assert requests.get(f"{live.url}/sdapi/v1/loras", timeout=30).json()[0]["name"] == "ink"
    found = requests.get(
        f"{live.url}/studio/v1/networks", params={"kind": "lora", "search": "WASH"}, timeout=30
    )
    assert [c["name"] for c in found.json()["items"]] == ["ink"]
    none = requests.get(
        f"{live.url}/studio/v1/networks", params={"kind": "lora", "search": "zzz"}, timeout=30
    )
    assert none.json()["items"] == []
    bad = requests.get(f"{live.url}/studio/v1/networks", params={"kind": "hypernet"}, timeout=30)
    assert bad.status_code == 422 and bad.json()["field"] == "kind"
    missing = requests.get(f"{live.url}/studio/v1/networks/lora/preview", params={"name": "zzz"}, timeout=30)
    assert missing.status_code == 404
