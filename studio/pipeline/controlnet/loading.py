"""Load ControlNet models offline: diffusers folders, original-layout single files (with the
shipped SD 1.x config) and diffusers-layout single files (with a `<stem>.json` config beside them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from studio.controlnet.models import ControlNetFile
from studio.pipeline.loader import ModelLoadError

SD15_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "controlnet_sd15"
ORIGINAL_PREFIXES = ("control_model.", "input_hint_block.", "zero_convs.", "middle_block_out.")


def _state_dict(path: Path, allow_pickle: bool) -> dict[str, Any]:
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if not allow_pickle:
        raise ModelLoadError(f"{path.name} is a pickle file; allow pickle files to load it")
    import torch

    data = torch.load(str(path), map_location="cpu", weights_only=True)
    return data.get("state_dict", data)


def load_controlnet(model: ControlNetFile, allow_pickle: bool = False) -> Any:
    """The `ControlNetModel` of `model`; ModelLoadError saying what is wrong."""
    from diffusers import ControlNetModel

    path = model.path
    try:
        if path.is_dir():
            return ControlNetModel.from_pretrained(str(path), local_files_only=True)
        state = _state_dict(path, allow_pickle)
        if any(key.startswith(ORIGINAL_PREFIXES) for key in state):
            config = path.with_suffix(".config") if path.with_suffix(".config").is_dir() else SD15_CONFIG
            return ControlNetModel.from_single_file(str(path), config=str(config), local_files_only=True)
        sidecar = path.with_suffix(".json")
        config = (
            json.loads(sidecar.read_text())
            if sidecar.is_file()
            else json.loads((SD15_CONFIG / "config.json").read_text())
        )
        controlnet = ControlNetModel.from_config(config)
        missing, unexpected = controlnet.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ModelLoadError(
                f"{path.name} does not fit the ControlNet config "
                f"({'its own ' + sidecar.name if sidecar.is_file() else 'SD 1.x'}): "
                f"{len(missing)} missing, {len(unexpected)} unexpected weights"
            )
        return controlnet.eval()
    except ModelLoadError:
        raise
    except (OSError, ValueError, RuntimeError, KeyError) as error:
        raise ModelLoadError(f"cannot load ControlNet {path.name}: {error}") from error
