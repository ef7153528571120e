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
    }


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
