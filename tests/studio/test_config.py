import json
from pathlib import Path

import pytest

from studio.config import ConfigError, load_config, save_settings


def test_layers_defaults_file_environment_and_command_line(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"port": 9000, "device": "cpu", "model_cache_size": 3}))
    config = load_config(
        {"data_dir": str(tmp_path), "port": 9100},
        environ={"ATELIER_DEVICE": "cuda", "ATELIER_LISTEN": "true"},
    )
    assert config.port == 9100  # command line beats the file
    assert config.device == "cuda"  # environment beats the file
    assert config.model_cache_size == 3  # file beats the default
    assert config.listen and config.host == "0.0.0.0"
    assert config.models_path == tmp_path / "models"


def test_bad_values_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="port"):
        load_config({"data_dir": str(tmp_path)}, environ={"ATELIER_PORT": "abc"})
    (tmp_path / "config.json").write_text(json.dumps({"prot": 1}))
    with pytest.raises(ConfigError, match="prot"):
        load_config({"data_dir": str(tmp_path)}, environ={})


def test_saved_settings_survive_a_reload(tmp_path: Path) -> None:
    config = load_config({"data_dir": str(tmp_path)}, environ={})
    changed = save_settings(config, {"default_model": "starter", "samples_save": False})
    assert changed.default_model == "starter"
    again = load_config({"data_dir": str(tmp_path)}, environ={})
    assert again.default_model == "starter" and again.samples_save is False
