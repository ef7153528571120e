from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from studio.infotext import parse_infotext
from studio.pipeline.engine import Engine
from studio.pipeline.samplers import BUILTIN_SAMPLERS, BUILTIN_SCHEDULE_TYPES, SamplerRegistry
from studio.progress import GenerationControl
from studio.request import GenerationRequest, RequestError
from studio.scripts.registries import builtin_registries
from tests.studio.pipeline.conftest import pixels

A1111_NAMES = ["Euler a", "Euler", "LMS", "Heun", "DPM2", "DPM2 a", "DPM++ 2M", "DPM++ 2M SDE", "DPM++ SDE"]
A1111_NAMES += ["DPM++ 2S a", "DDIM", "PLMS", "UniPC", "LCM"]
BASE = GenerationRequest(prompt="a dog", seed=5, steps=2, width=64, height=64, save_images=False)


@pytest.fixture
def samplers() -> SamplerRegistry:
    """The built-in samplers, registered through the `register_samplers` hook."""
    return builtin_registries().samplers


def test_the_a1111_names_are_all_there(samplers: SamplerRegistry) -> None:
    assert set(A1111_NAMES) <= set(samplers.sampler_names())
    assert {"Automatic", "Karras", "Exponential", "Uniform", "SGM Uniform"} <= set(
        samplers.schedule_type_names()
    )


@pytest.mark.parametrize("name", [spec.name for spec in BUILTIN_SAMPLERS])
def test_every_sampler_generates(engine: Engine, samplers: SamplerRegistry, name: str) -> None:
    if not samplers.get(name).available():
        pytest.skip(f"{name} needs {samplers.get(name).requires}")
    result = engine.generate(replace(BASE, sampler_name=name), GenerationControl())
    image = pixels(result.images[0].png)
    assert image.shape == (64, 64, 3) and image.std() > 0
    assert parse_infotext(result.images[0].infotext)["Sampler"] == name
    scheduler = engine.cache.get(engine.registry.find("checkpoint", "tiny"), engine.device, {}, False)
    assert type(scheduler.pipeline("txt2img").scheduler).__name__ == samplers.get(name).scheduler_class


@pytest.mark.parametrize("schedule", [schedule.name for schedule in BUILTIN_SCHEDULE_TYPES])
def test_every_schedule_type_configures_the_scheduler(
    engine: Engine, samplers: SamplerRegistry, schedule: str
) -> None:
    if not samplers.schedule_type(schedule).available():
        pytest.skip(f"{schedule} needs {samplers.schedule_type(schedule).requires}")
    base = dict(
        engine.cache.get(
            engine.registry.find("checkpoint", "tiny"), engine.device, {}, False
        ).base_scheduler_config
    )
    scheduler = samplers.make_scheduler("DPM++ 2M", schedule, base)
    for key, value in samplers.schedule_type(schedule).options.items():
        assert scheduler.config[key] == value
    result = engine.generate(replace(BASE, sampler_name="DPM++ 2M", scheduler=schedule), GenerationControl())
    assert parse_infotext(result.images[0].infotext)["Schedule type"] == schedule


def test_schedule_type_changes_the_picture(engine: Engine) -> None:
    automatic = engine.generate(replace(BASE, sampler_name="Euler", steps=3), GenerationControl())
    karras = engine.generate(
        replace(BASE, sampler_name="Euler", steps=3, scheduler="Karras"), GenerationControl()
    )
    assert not np.array_equal(pixels(automatic.images[0].png), pixels(karras.images[0].png))


def test_aliases_and_legacy_names(samplers: SamplerRegistry) -> None:
    assert samplers.normalize("PNDM") == ("PLMS", "Automatic")
    assert samplers.normalize("DPM++ 2M Karras") == ("DPM++ 2M", "Karras")
    assert samplers.normalize("Euler a") == ("Euler a", "Automatic")


def test_unsupported_schedule_for_sampler_is_refused(samplers: SamplerRegistry) -> None:
    with pytest.raises(RequestError, match="choose one of: Automatic"):
        samplers.make_scheduler("DDIM", "Karras", {})
    with pytest.raises(RequestError) as error:
        samplers.make_scheduler("Nope", "Automatic", {})
    assert error.value.field == "sampler_name"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (("k_euler_a", "Automatic"), ("Euler a", "Automatic")),
        (("k_euler_ancestral", "Automatic"), ("Euler a", "Automatic")),
        (("k_dpmpp_2m", "karras"), ("DPM++ 2M", "Karras")),
        (("euler a", "sgm_uniform"), ("Euler a", "SGM Uniform")),
        (("k_dpmpp_2m_ka", "Automatic"), ("DPM++ 2M", "Karras")),
        (("DPM++ 2M SDE Exponential", "Automatic"), ("DPM++ 2M SDE", "Exponential")),
        (("DPM++ 2M SDE Heun Karras", "Automatic"), ("DPM++ 2M SDE Heun", "Karras")),
        (("DPM2 a Karras", "Karras"), ("DPM2 a", "Karras")),
        (("k_lms_ka", "Automatic"), ("LMS", "Karras")),
        # A1111 1.9+ splits any schedule type's name off the end
        (("Euler SGMUniform", "Automatic"), ("Euler", "SGM Uniform")),
        (("UniPC Uniform", "Automatic"), ("UniPC", "Uniform")),
        # conflicting or unknown: left for the validation to name
        (("DPM++ 2M Karras", "Exponential"), ("DPM++ 2M Karras", "Exponential")),
        (("Nope Karras", "Automatic"), ("Nope Karras", "Automatic")),
    ],
)
def test_a1111_aliases_and_combined_names(
    samplers: SamplerRegistry, given: tuple[str, str], expected: tuple[str, str]
) -> None:
    assert samplers.normalize(*given) == expected


def test_every_alias_and_legacy_name_resolves(samplers: SamplerRegistry) -> None:
    for name in samplers.sampler_names():
        for alias in samplers.aliases(name):
            assert samplers.normalize(alias)[0] == name, alias
    assert samplers.aliases("DPM++ 2M") == ["k_dpmpp_2m", "DPM++ 2M Karras", "k_dpmpp_2m_ka"]
    assert samplers.aliases("Euler a") == ["k_euler_a", "k_euler_ancestral"]
