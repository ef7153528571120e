"""The PiDiNet soft-edge preprocessors: the pixel-difference convolutions against their
definitions, and the network saved as the extension's `pidinet/table5_pidinet.pth` (a training
checkpoint of a DataParallel model) run as softedge_pidinet and softedge_pidisafe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio.controlnet import pidinet, preprocessors
from studio.request import RequestError

RING = (0, 1, 2, 5, 8, 7, 6, 3)  # the 3x3 neighbours clockwise from the top left


def test_pixel_difference_convolutions_follow_their_definitions() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 1, 5, 5, dtype=torch.float64)
    w = torch.randn(1, 1, 3, 3, dtype=torch.float64)
    patch, flat = x[0, 0, 1:4, 1:4].reshape(-1), w.reshape(-1)

    def centre(kind: str) -> float:
        return float(pidinet._pixel_difference(kind)(x, w, None, 1, 1, 1, 1)[0, 0, 2, 2])

    assert centre("cv") == pytest.approx(float((patch * flat).sum()))
    # central: each neighbour minus the centre pixel
    assert centre("cd") == pytest.approx(float((flat * (patch - patch[4])).sum()))
    # angular: each neighbour minus the next one clockwise
    following = {RING[i]: RING[(i + 1) % 8] for i in range(8)} | {4: 4}
    assert centre("ad") == pytest.approx(
        sum(float(flat[i] * (patch[i] - patch[following[i]])) for i in range(9))
    )
    # radial: the outer 5x5 ring pixel minus the inner one in the same direction (weight 0 unused)
    outer = x[0, 0].reshape(-1)[[0, 2, 4, 10, 14, 20, 22, 24]]
    inner = x[0, 0].reshape(-1)[[6, 7, 8, 11, 13, 16, 17, 18]]
    assert centre("rd") == pytest.approx(float((flat[1:] * (outer - inner)).sum()))


def test_the_network_has_the_extension_s_layers() -> None:
    state = pidinet.pidinet_network().state_dict()
    assert len(state) == 83 and sum(v.numel() for v in state.values()) == 710_149  # the paper's 710 K
    assert {
        "init_block.weight",
        "block1_3.conv2.weight",
        "block2_1.shortcut.bias",
        "block4_4.conv1.weight",
    } <= set(state)
    assert {"dilations.3.conv2_4.weight", "attentions.0.conv2.weight", "conv_reduces.2.conv.bias"} <= set(
        state
    )
    assert "classifier.bias" in state and "block1_1.conv1.bias" not in state


def test_softedge_pidinet_runs_the_file_s_network(tmp_path: Path) -> None:
    folder = tmp_path / "annotators"
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    with pytest.raises(RequestError, match=r"pidinet/table5_pidinet\.pth"):
        preprocessors.run("softedge_pidinet", image, 64, -1, -1, folder)
    torch.manual_seed(0)
    network = pidinet.pidinet_network().eval()
    source = np.asarray(preprocessors.resize_short_side(image, 64))[:, :, ::-1] / 255.0
    tensor = torch.from_numpy(np.ascontiguousarray(source.transpose(2, 0, 1)[None])).float()
    fused: list[torch.Tensor] = []
    hook = network.classifier.register_forward_hook(lambda module, args, out: fused.append(out))
    with torch.no_grad():  # the classifier rescaled so the map spans the whole range
        network(tensor)
        hook.remove()
        spread = float(fused[0].std()) / 3.0
        network.classifier.weight.div_(spread)
        network.classifier.bias.sub_(float(fused[0].mean())).div_(spread)
    path = folder / "pidinet" / "table5_pidinet.pth"
    path.parent.mkdir(parents=True)
    checkpoint = {"epoch": 13, "state_dict": {f"module.{k}": v for k, v in network.state_dict().items()}}
    torch.save(checkpoint, str(path))
    soft = np.asarray(preprocessors.run("softedge_pidinet", image, 64, -1, -1, folder, allow_pickle=True))
    safe = np.asarray(preprocessors.run("softedge_pidisafe", image, 64, -1, -1, folder, allow_pickle=True))
    assert soft.shape == safe.shape == (64, 88, 3)
    with torch.no_grad():
        expected = (network(tensor)[-1][0, 0].numpy() * 255.0).clip(0, 255).astype(np.uint8)
    assert np.abs(soft[:, :, 0].astype(int) - expected.astype(int)).max() <= 1
    assert len(np.unique(soft)) > 10 and set(np.unique(safe).tolist()) <= {0, 127, 255}
    assert len(np.unique(safe)) == 3


def test_scribble_thins_and_thickens_the_soft_edges() -> None:
    """The extension's scribble post-processing: a soft ridge becomes one white stroke of even
    width; a faint one disappears."""
    from studio.controlnet.annotators import scribble

    xs = np.mgrid[0:64, 0:64][1]
    ridge = 255.0 * np.exp(-((xs - 20) ** 2) / 18.0) + 60.0 * np.exp(-((xs - 48) ** 2) / 18.0)
    out = np.asarray(scribble(Image.fromarray(ridge.astype(np.uint8)).convert("RGB")).convert("L"))
    assert set(np.unique(out).tolist()) == {0, 255}
    row = out[32]
    assert row[20] == 255 and row[48] == 0 and row[5] == 0
    assert 5 <= int((row == 255).sum()) <= 25 and row[11:30].all()  # one stroke around the ridge
    assert (out[8:56] == out[32]).all()  # the same along the ridge


def test_scribble_pidinet_runs_the_file_s_network(tmp_path: Path) -> None:
    from studio.controlnet.annotators import scribble

    folder = tmp_path / "annotators"
    torch.manual_seed(0)
    network = pidinet.pidinet_network().eval()
    path = folder / "pidinet" / "table5_pidinet.pth"
    path.parent.mkdir(parents=True)
    torch.save({"state_dict": {f"module.{k}": v for k, v in network.state_dict().items()}}, str(path))
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    out = preprocessors.run("scribble_pidinet", image, 64, -1, -1, folder, allow_pickle=True)
    soft = preprocessors.run("softedge_pidinet", image, 64, -1, -1, folder, allow_pickle=True)
    assert np.array_equal(np.asarray(out), np.asarray(scribble(soft)))
