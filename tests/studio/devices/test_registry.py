from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from studio.devices import DeviceError, available_backends, backend_names, detect_best, resolve_device


def fake_torch(
    cuda: bool = False, hip: str | None = None, mps: bool = False, xpu: bool = False, bf16: bool = True
):
    """A stand-in for the torch module exposing only what detection reads (GPU machines we do not have)."""
    return SimpleNamespace(
        version=SimpleNamespace(cuda="12.8" if cuda and not hip else None, hip=hip),
        cuda=SimpleNamespace(is_available=lambda: cuda, is_bf16_supported=lambda: bf16),
        backends=SimpleNamespace(mps=SimpleNamespace(is_available=lambda: mps)),
        xpu=SimpleNamespace(is_available=lambda: xpu),
        device=lambda name: f"device({name})",
        float32="float32",
        float16="float16",
        bfloat16="bfloat16",
    )


def test_all_backends_are_registered() -> None:
    assert backend_names() == ["cuda", "rocm", "mps", "xpu", "directml", "cpu"]


def test_cpu_on_this_machine_is_real() -> None:
    choice = resolve_device("cpu")
    assert choice.name == "cpu" and choice.device == torch.device("cpu") and choice.dtype == torch.float32
    assert choice.is_cpu
    tensor = torch.ones(2, device=choice.device, dtype=choice.dtype)
    assert tensor.sum().item() == 2
    auto = resolve_device("auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert auto.name == expected


@pytest.mark.parametrize(
    ("machine", "best", "dtype"),
    [
        ({"cuda": True}, "cuda", "bfloat16"),
        ({"cuda": True, "bf16": False}, "cuda", "float16"),
        ({"cuda": True, "hip": "6.2"}, "rocm", "float16"),
        ({"mps": True}, "mps", "float16"),
        ({"xpu": True}, "xpu", "bfloat16"),
        ({"xpu": True, "mps": True}, "mps", "float16"),
        ({}, "cpu", "float32"),
    ],
)
def test_auto_detection_picks_the_best_backend(machine: dict, best: str, dtype: str) -> None:
    fake = fake_torch(**machine)
    assert detect_best(torch=fake).name == best
    choice = resolve_device("auto", torch=fake)
    assert choice.name == best and choice.dtype == dtype
    assert available_backends(torch=fake)[-1].name == "cpu"


def test_device_index_and_errors() -> None:
    fake = fake_torch(cuda=True)
    assert resolve_device("cuda:1", torch=fake).device == "device(cuda:1)"
    with pytest.raises(DeviceError, match="not available"):
        resolve_device("mps", torch=fake)
    with pytest.raises(DeviceError, match="choose one of: auto, cuda"):
        resolve_device("tpu", torch=fake)
    # torch-directml is not installed here: never available, never an error during detection.
    assert "directml" not in [b.name for b in available_backends(torch=fake)]
