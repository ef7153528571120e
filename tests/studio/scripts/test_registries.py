"""Samplers, device backends and memory strategies: built-ins and extensions take the same hooks."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path

import pluggy
import pytest

from studio.config import StudioConfig
from studio.infotext import parse_infotext
from studio.pipeline.engine import Engine
from studio.progress import GenerationControl
from studio.request import GenerationRequest, RequestError
from studio.scripts import hookspecs
from studio.scripts.extensions import ExtensionManager
from studio.scripts.manager import ScriptManager
from studio.scripts.registries import BUILTIN_PLUGIN_NAME, build_registries, new_plugin_manager
from studio.scripts.system import build_script_system

EXTENSION_SCRIPT = """
from studio.api import Script, hookimpl
from studio.memory import MemoryStrategy
from studio.pipeline.samplers import SamplerSpec


class SpareCpu:
    '''A device backend: the CPU under another name, ranked below the real one.'''

    name = "spare-cpu"
    priority = -1

    def is_available(self, torch):
        return True

    def device(self, torch, index=None):
        return torch.device("cpu")

    def preferred_dtype(self, torch):
        return torch.float32


class SpareDevices(Script):
    name = "Spare devices"

    @hookimpl
    def register_devices(self, registry):
        registry.add(SpareCpu())


def tag_pipeline(pipe, options, device):
    pipe.registry_test_tag = (options.get("label", "on"), device.name)


@hookimpl
def register_samplers(registry):
    registry.add(SamplerSpec("Euler trailing", "EulerDiscreteScheduler", {"timestep_spacing": "trailing"}))


@hookimpl
def register_memory_strategies(registry):
    registry.add(MemoryStrategy("tag", tag_pipeline, "marks the pipeline (a test strategy)"))
"""

CLASHING_SCRIPT = """
from studio.api import hookimpl
from studio.pipeline.samplers import SamplerSpec


@hookimpl
def register_samplers(registry):
    registry.add(SamplerSpec("Euler a", "DDIMScheduler"))
"""


def write_extension(folder: Path, name: str, script: str) -> Path:
    (folder / "scripts").mkdir(parents=True)
    (folder / "extension.toml").write_text(f'name = "{name}"\nversion = "1.0"\n')
    (folder / "scripts" / "main.py").write_text(textwrap.dedent(script))
    return folder


def test_the_builtins_come_through_the_hooks() -> None:
    plugin_manager = new_plugin_manager()
    for hook_name in ("register_samplers", "register_devices", "register_memory_strategies"):
        impls = getattr(plugin_manager.hook, hook_name).get_hookimpls()
        assert [impl.plugin_name for impl in impls] == [BUILTIN_PLUGIN_NAME]
    registries = ScriptManager().registries
    assert registries.samplers.sampler_names()[:3] == ["DPM++ 2M", "DPM++ 2M SDE", "DPM++ 3M SDE"]
    assert registries.devices.names() == ["cuda", "rocm", "mps", "xpu", "directml", "cpu"]
    assert "vae_slicing" in registries.memory_strategies.names()
    # without the built-in plugin there is nothing: no registry is filled any other way
    bare = pluggy.PluginManager(hookspecs.PROJECT)
    bare.add_hookspecs(hookspecs)
    empty = build_registries(bare)
    assert (empty.samplers.sampler_names(), empty.devices.names(), empty.memory_strategies.names()) == (
        [],
        [],
        [],
    )


def test_an_extension_adds_a_sampler_a_device_and_a_memory_strategy(
    extension_manager: ExtensionManager, studio_config: StudioConfig
) -> None:
    write_extension(extension_manager.install_dir / "extras", "extras", EXTENSION_SCRIPT)
    assert {info.name: info.status for info in extension_manager.load_all()} == {"extras": "loaded"}
    scripts = extension_manager.scripts
    config = replace(studio_config, device="spare-cpu", memory={"tag": {"label": "x"}})
    engine = Engine(config, hooks=scripts, registries=scripts.registries)

    # listed (what /sdapi/v1/samplers and the pickers show), after the built-ins
    assert engine.sampler_names()[-1] == "Euler trailing" and "Euler a" in engine.sampler_names()
    assert engine.device_names()[-1] == "spare-cpu"
    assert engine.memory_strategy_names()[-1] == "tag"

    # selected by name, used in a generation, applied when named
    request = GenerationRequest(
        prompt="a tree",
        sampler_name="Euler trailing",
        seed=3,
        steps=2,
        width=64,
        height=64,
        save_images=False,
    )
    result = engine.generate(request, GenerationControl())
    assert parse_infotext(result.images[0].infotext)["Sampler"] == "Euler trailing"
    assert engine.device.name == "spare-cpu"
    loaded = engine.cache.get(engine.registry.find("checkpoint", "tiny"), engine.device, {}, False)
    scheduler = loaded.pipeline("txt2img").scheduler
    assert type(scheduler).__name__ == "EulerDiscreteScheduler"
    assert scheduler.config.timestep_spacing == "trailing"
    assert loaded.pipe.registry_test_tag == ("x", "spare-cpu")

    # disabling the extension takes its entries away at once, from the same engine
    extension_manager.disable("extras")
    assert "Euler trailing" not in engine.sampler_names()
    assert "spare-cpu" not in engine.device_names() and "tag" not in engine.memory_strategy_names()
    with pytest.raises(RequestError) as error:
        engine.check(request)
    assert error.value.field == "sampler_name"


def test_a_name_already_taken_fails_the_extension_not_the_studio(
    extension_manager: ExtensionManager,
) -> None:
    write_extension(extension_manager.install_dir / "clash", "clash", CLASHING_SCRIPT)
    (info,) = extension_manager.load_all()
    assert info.status == "error" and "a sampler named 'Euler a' is already registered" in str(info.error)
    samplers = extension_manager.scripts.registries.samplers
    assert samplers.get("Euler a").scheduler_class == "EulerAncestralDiscreteScheduler"
    assert extension_manager.scripts.names() == []


def test_the_script_system_hands_its_registries_to_the_composition(studio_config: StudioConfig) -> None:
    write_extension(studio_config.data_dir / "extensions" / "extras", "extras", EXTENSION_SCRIPT)
    system = build_script_system(studio_config)
    assert system.registries is system.scripts.registries
    assert "Euler trailing" in system.registries.samplers.sampler_names()
    assert "spare-cpu" in system.registries.devices.names()
