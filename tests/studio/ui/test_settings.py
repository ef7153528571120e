from __future__ import annotations

import pytest

from studio.config import ConfigError
from studio.ui.settings import settings_changes

VALID = {
    "models_dir": "  ",
    "outputs_dir": "/somewhere/outputs",
    "default_model": "",
    "samples_save": False,
    "device": "cpu",
    "dtype": "bf16",
    "memory_policy": "off",
    "model_cache_size": 3.0,
    "clip_skip": 2,
    "allow_pickle": True,
    "memory": '{"attention_slicing": {}}',
    "cost_check": "refuse",
    "max_job_seconds": 120,
    "hub_server": " http://127.0.0.1:9/ ",
    "hub_api_key": "••••abcd",  # the saved key, shown masked
    "backend": "openvino",
    "openvino_int8": None,
    "torch_compile": True,
    "channels_last": None,
    "quantize_unet": "int8",
    "quantize_text_encoder": "",
    "worker_process": False,
}


def test_settings_changes_from_widgets():
    assert settings_changes(VALID) == {
        "models_dir": None,
        "outputs_dir": "/somewhere/outputs",
        "default_model": None,
        "samples_save": False,
        "device": "cpu",
        "dtype": "bf16",
        "memory_policy": "off",
        "model_cache_size": 3,
        "clip_skip": 2,
        "allow_pickle": True,
        "memory": {"attention_slicing": {}},
        "cost_check": "refuse",
        "max_job_seconds": 120.0,
        "hub_server": "http://127.0.0.1:9/",
        "backend": "openvino",
        "openvino_int8": False,
        "torch_compile": True,
        "channels_last": False,
        "quantize_unet": "int8",
        "quantize_text_encoder": "none",
        "worker_process": False,
    }  # the masked key is not a change


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("memory", "{not json"),
        ("memory", "[1, 2]"),
        ("model_cache_size", None),
        ("clip_skip", "two"),
        ("max_job_seconds", None),
    ],
)
def test_bad_settings_name_the_field(name, value):
    with pytest.raises(ConfigError) as error:
        settings_changes({**VALID, name: value})
    assert error.value.field == name


def test_only_edited_settings_are_saved():
    from studio.ui.settings import edited_changes

    shown = {**VALID, "clip_skip": 3, "device": "cpu"}
    edited = {**shown, "clip_skip": 3, "device": "auto"}  # the person changed only the device
    assert edited_changes(shown, edited) == {"device": "auto"}
    assert edited_changes(shown, shown) == {}
    with pytest.raises(ConfigError):
        edited_changes(shown, {**shown, "clip_skip": "two"})


def test_the_api_key_is_kept_replaced_or_forgotten():
    from studio.ui.settings import edited_changes

    assert "hub_api_key" not in edited_changes(VALID, VALID)
    assert edited_changes(VALID, {**VALID, "hub_api_key": " new-key-1234 "}) == {
        "hub_api_key": "new-key-1234"
    }
    assert edited_changes(VALID, {**VALID, "hub_api_key": ""}) == {"hub_api_key": None}


def test_a_bad_hub_server_or_masked_key_is_refused_by_name(tmp_path):
    from studio.config import StudioConfig, masked, save_settings

    config = StudioConfig(data_dir=tmp_path)
    with pytest.raises(ConfigError) as error:
        save_settings(config, {"hub_server": "ftp://x"})
    assert error.value.field == "hub_server"
    with pytest.raises(ConfigError) as error:
        save_settings(config, {"hub_api_key": masked("a-long-secret-key")})
    assert error.value.field == "hub_api_key"
    saved = save_settings(config, {"hub_server": "http://127.0.0.1:9", "hub_api_key": "a-long-secret-key"})
    assert masked(saved.hub_api_key) == "••••-key" and "secret" not in masked(saved.hub_api_key)
