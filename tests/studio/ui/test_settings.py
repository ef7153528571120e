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
