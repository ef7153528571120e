import pytest
from PIL import Image

from studio.api import (
    GenerationControl,
    GenerationRequest,
    Param,
    Result,
    Script,
    StepInfo,
    hookimpl,
    replace,
)
from studio.scripts.builtin import builtin_scripts
from studio.scripts.manager import ScriptManager
from studio.scripts.params import ScriptArgsError


class Prefix(Script):
    name = "Prefix"
    params = (Param("text", "str", default="masterpiece"), Param("stop_at", "int", default=0, minimum=0))

    @hookimpl
    def before_process(self, request, args):
        return replace(request, prompt=f"{args['text']}, {request.prompt}")

    @hookimpl
    def on_step(self, info, control, args):
        if args["stop_at"] and info.step >= args["stop_at"]:
            control.interrupt()

    @hookimpl
    def postprocess_image(self, image, infotext, args):
        return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), f"{infotext}, Prefix: {args['text']}"


class Suffix(Script):
    name = "Suffix"

    @hookimpl
    def before_process(self, request):
        return replace(request, prompt=request.prompt + ", best")

    @hookimpl
    def postprocess(self, result):
        result.timings["suffix"] = 1.0


class Broken(Script):
    name = "Broken"

    @hookimpl
    def postprocess_image(self, image, infotext):
        raise RuntimeError("bug in a script")


@pytest.fixture
def manager():
    scripts = ScriptManager()
    for script in (*builtin_scripts(), Prefix(), Suffix(), Broken()):
        scripts.register(script)
    return scripts


def run_hooks(manager, request):
    """Call the hooks in the order the engine does."""
    request = manager.before_process(request)
    control = GenerationControl()
    manager.process_batch(request, 0, [1])
    for step in range(1, 5):
        manager.on_step(StepInfo(0, 1, 0, step, 4), control)
    _image, infotext = manager.postprocess_image(request, Image.new("RGB", (8, 8)), "base")
    result = manager.postprocess(Result(request=request))
    return request, control, infotext, result


def test_only_the_scripts_a_request_names_run(manager):
    request, control, infotext, result = run_hooks(manager, GenerationRequest(prompt="cat"))
    assert request.prompt == "cat" and infotext == "base" and not control.interrupted
    assert "suffix" not in result.timings


def test_enabled_scripts_chain_in_registration_order_with_their_own_args(manager):
    scripts = {"prefix": {"text": "oil", "stop_at": 3}, "SUFFIX": {}}
    request, control, infotext, result = run_hooks(manager, GenerationRequest(prompt="cat", scripts=scripts))
    assert request.prompt == "oil, cat, best"
    assert control.interrupted
    assert infotext == "base, Prefix: oil"
    assert result.timings["suffix"] == 1.0


def test_a_failing_hook_is_logged_and_the_others_go_on(manager):
    scripts = {"Broken": {}, "Prefix": {}}
    _, _, infotext, _ = run_hooks(manager, GenerationRequest(prompt="cat", scripts=scripts))
    assert infotext == "base, Prefix: masterpiece"
    assert any("bug in a script" in error for error in manager.hook_errors)


def test_bad_script_args_and_unknown_scripts_are_request_errors(manager):
    with pytest.raises(ScriptArgsError, match=r"scripts.Prefix.stop_at"):
        manager.before_process(GenerationRequest(scripts={"Prefix": {"stop_at": -1}}))
    with pytest.raises(ScriptArgsError, match="no such script"):
        manager.before_process(GenerationRequest(scripts={"nope": {}}))


def test_a1111_forms_map_onto_names(manager):
    scripts = manager.from_a1111(
        script_name="x/y/z plot",
        script_args=[4, "10, 20"],
        alwayson_scripts={"prefix": {"args": ["oil", 2]}, "Suffix": {"args": {}}},
    )
    assert scripts == {
        "Prefix": {"text": "oil", "stop_at": 2},
        "Suffix": {},
        "X/Y/Z plot": {"x_type": 4, "x_values": "10, 20"},
    }
    script, args = manager.selectable_for(GenerationRequest(scripts=scripts))
    assert script.name == "X/Y/Z plot" and args["x_type"] == "Steps"
    with pytest.raises(ScriptArgsError, match="always-on"):
        manager.from_a1111(script_name="prefix")
    with pytest.raises(ScriptArgsError, match="no such script"):
        manager.from_a1111(alwayson_scripts={"ADetailer": {"args": [True]}})


def test_describe_lists_kinds_and_schemas(manager):
    described = {entry["name"]: entry for entry in manager.describe()}
    assert described["X/Y/Z plot"]["kind"] == "selectable"
    assert described["Prefix"]["schema"]["properties"]["stop_at"]["minimum"] == 0
    assert manager.ui_params("txt2img")["Prefix"][0].name == "text"


def test_duplicate_names_are_refused(manager):
    with pytest.raises(ValueError, match="already registered"):
        manager.register(Prefix())


def test_check_reports_bad_axis_values_before_anything_is_queued(manager):
    from studio.scripts.builtin.xyz.plan import AxisValueError

    good = GenerationRequest(
        width=64, height=64, scripts={"x/y/z plot": {"x_type": "Steps", "x_values": "1-3"}}
    )
    manager.check(good)
    bad = replace(good, scripts={"x/y/z plot": {"x_type": "Steps", "x_values": "1, 0"}})
    with pytest.raises(AxisValueError, match=r"X axis \(Steps\), value '0'"):
        manager.check(bad)
    with pytest.raises(ScriptArgsError, match=r"Prefix\.stop_at"):
        manager.check(GenerationRequest(scripts={"Prefix": {"stop_at": "x"}}))
