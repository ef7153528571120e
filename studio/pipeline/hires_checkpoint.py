"""Hires fix's `hr_checkpoint_name`: the second pass with another checkpoint (A1111 loads it
for the second pass and goes back to the first for the next image).

The other checkpoint must be a family hires fix runs with (SD 1.x / 2.x, whose VAEs share one
latent space, so a latent upscale hands over cleanly). Its LoRAs and embeddings are applied to
it as to the first (patches are kept per model)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from studio.model_checks import check_model_file
from studio.request import RequestError

HIRES_FAMILIES = ("sd15", "sd2")


def hires_checkpoint_check(registry: Any, entry: Any, allow_pickle: bool) -> Callable[[str], bool]:
    """A check of an `hr_checkpoint_name` for a request on `entry`: True when it names `entry`
    itself, False for another usable checkpoint; RequestError naming the field when there is no
    such checkpoint, its file cannot be read, or it is of a family hires fix does not run with."""

    def check(name: str) -> bool:
        other = registry.find("checkpoint", name, "hr_checkpoint_name")
        if other.path == entry.path:
            return True
        check_model_file(other, kind="checkpoint", allow_pickle=allow_pickle, field_name="hr_checkpoint_name")
        if other.family not in HIRES_FAMILIES:
            raise RequestError(
                "hr_checkpoint_name",
                f"{other.title} is a {other.family} model; the second pass runs with SD 1.x / 2.x checkpoints",
            )
        return False

    return check
