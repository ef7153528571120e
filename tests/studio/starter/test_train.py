from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.starter import train

TINY_RUN = [
    "--dataset-size",
    "48",
    "--vae-batch-size",
    "4",
    "--batch-size",
    "4",
    "--log-every",
    "1",
    "--threads",
    "2",
]


@pytest.mark.slow
def test_a_tiny_run_writes_a_loadable_pipeline_and_resumes(tmp_path: Path) -> None:
    import torch
    from diffusers import StableDiffusionPipeline

    output, export = tmp_path / "run", tmp_path / "export"
    argv = [
        *TINY_RUN,
        "--output",
        str(output),
        "--export",
        str(export),
        "--vae-steps",
        "2",
        "--unet-steps",
        "2",
    ]
    assert train.main(argv) == 0

    log = (output / "loss.csv").read_text().splitlines()
    assert log[0] == "stage,step,elapsed_s,loss"
    assert [line.split(",")[:2] for line in log[1:]] == [
        ["vae", "1"],
        ["vae", "2"],
        ["unet", "1"],
        ["unet", "2"],
    ]

    pipe = StableDiffusionPipeline.from_pretrained(export, local_files_only=True)
    assert {pipe.unet.dtype, pipe.vae.dtype, pipe.text_encoder.dtype} == {torch.float32}
    assert pipe.vae.config.scaling_factor != 0.18215  # measured on the data set
    assert pipe.tokenizer.model_max_length == train.TEXT_LENGTH
    pipe.set_progress_bar_config(disable=True)
    image = pipe("a red circle", num_inference_steps=2, generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (64, 64)
    exported = json.loads((export / "unet" / "config.json").read_text())
    assert exported["sample_size"] * 4 == 64

    # A second run refuses to overwrite; with --resume it continues (here: nothing left to do).
    with pytest.raises(SystemExit):
        train.main(argv)
    assert train.main([*argv, "--resume", "--unet-steps", "3"]) == 0
    assert (output / "loss.csv").read_text().splitlines()[-1].startswith("unet,3,")

    # Resumed at step 3 with a log line every 4 steps: the line at step 4 averages the one
    # step it saw (it used to divide that step's loss by 4).
    assert train.main([*argv, "--resume", "--unet-steps", "4", "--log-every", "4"]) == 0
    lines = (output / "loss.csv").read_text().splitlines()
    step3, step4 = (float(line.split(",")[-1]) for line in lines[-2:])
    assert lines[-1].startswith("unet,4,") and step4 > 0.5 * step3, (step3, step4)


def test_bad_arguments_name_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        train.parse_args(["--caption-dropout", "1.5"])
    assert "--caption-dropout" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.parse_args(["--batch-size", "0"])
    assert "--batch-size" in capsys.readouterr().err
