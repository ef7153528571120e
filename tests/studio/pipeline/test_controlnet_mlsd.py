"""The mlsd preprocessor: line decoding on a hand-made centre/displacement map, and the
MobileV2-MLSD network saved as the extension's `mlsd/mlsd_large_512_fp32.pth` run as a preprocessor
(thresholds in effect); tests/studio/http/test_controlnet.py runs it through /controlnet/detect."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio.controlnet import mlsd, preprocessors
from studio.request import RequestError


def test_lines_are_decoded_from_centres_and_displacements() -> None:
    maps = torch.zeros(1, 9, 32, 32)
    maps[0, 0] = -10.0  # nothing anywhere ...
    maps[0, 0, 10, 12] = 3.0  # ... but a strong centre (score 0.95)
    maps[0, 1:5, 10, 12] = torch.tensor([-6.0, -2.0, 6.0, 2.0])  # from (6, 8) to (18, 12)
    maps[0, 0, 20, 20] = -1.0  # a weak one (score 0.27)
    maps[0, 1:5, 20, 20] = torch.tensor([0.0, -5.0, 0.0, 5.0])
    maps[0, 0, 25, 5] = 2.0  # a strong one that is too short (length 4)
    maps[0, 1:5, 25, 5] = torch.tensor([-2.0, 0.0, 2.0, 0.0])
    lines = mlsd.decode_lines(maps, 0.1, 5.0)
    assert lines.tolist() == [[6.0, 8.0, 18.0, 12.0], [20.0, 15.0, 20.0, 25.0]]
    assert mlsd.decode_lines(maps, 0.5, 5.0).tolist() == [[6.0, 8.0, 18.0, 12.0]]
    assert len(mlsd.decode_lines(maps, 0.1, 3.0)) == 3
    assert len(mlsd.decode_lines(maps, 0.1, 20.0)) == 0


def test_a_centre_needs_to_be_a_local_maximum() -> None:
    maps = torch.zeros(1, 9, 16, 16)
    maps[0, 0] = -10.0
    maps[0, 0, 8, 8], maps[0, 0, 8, 9] = 3.0, 2.5  # a neighbour of a stronger centre is no centre
    maps[0, 1:5, 8, 8] = maps[0, 1:5, 8, 9] = torch.tensor([-4.0, 0.0, 4.0, 0.0])
    assert mlsd.decode_lines(maps, 0.1, 1.0).tolist() == [[4.0, 8.0, 12.0, 8.0]]


def write_mlsd(folder: Path, centre: float, displacement: tuple[float, float, float, float]) -> Path:
    """Random weights, except the last 1x1 layer: a constant centre logit and displacement."""
    torch.manual_seed(0)
    network = mlsd.mlsd_network()
    state = network.state_dict()
    state["block23.conv3.weight"].zero_()
    state["block23.conv3.bias"][7:12] = torch.tensor([centre, *displacement])
    path = folder / "mlsd" / "mlsd_large_512_fp32.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, str(path))
    return path


def test_the_network_has_the_extension_s_layers() -> None:
    state = mlsd.mlsd_network().state_dict()
    assert sum(v.numel() for k, v in state.items() if "num_batches" not in k) == 1_552_624
    assert {"backbone.features.0.0.weight", "backbone.features.13.conv.2.weight"} <= set(state)
    assert {"block15.conv1.0.weight", "block22.conv2.1.running_var", "block23.conv3.bias"} <= set(state)


def test_mlsd_runs_the_file_s_network(tmp_path: Path) -> None:
    folder = tmp_path / "annotators"
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    with pytest.raises(RequestError, match=r"mlsd/mlsd_large_512_fp32\.pth"):
        preprocessors.run("mlsd", image, 64, -1, -1, folder)
    write_mlsd(folder, 3.0, (-5.0, 0.0, 5.0, 0.0))  # every centre: a horizontal 20 px line
    lines = np.asarray(preprocessors.run("mlsd", image, 64, -1, -1, folder, allow_pickle=True).convert("L"))
    assert lines.shape == (64, 88) and set(np.unique(lines).tolist()) == {0, 255}
    rows = np.nonzero(lines.any(axis=1))[0]
    assert len(rows) > 3 and all(lines[row].sum() >= 255 * 20 for row in rows)  # whole horizontal runs
    # the distance threshold (b) above the segments' length 10, or the value threshold (a) above
    # their score sigmoid(3) = 0.95: nothing
    assert preprocessors.run("mlsd", image, 64, 0.1, 10.5, folder, allow_pickle=True).getbbox() is None
    assert preprocessors.run("mlsd", image, 64, 0.96, 0.1, folder, allow_pickle=True).getbbox() is None
