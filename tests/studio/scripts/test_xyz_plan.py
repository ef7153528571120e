import pytest

from studio.request import GenerationRequest, RequestError
from studio.scripts.base import Choices
from studio.scripts.builtin.xyz import XYZPlot
from studio.scripts.builtin.xyz.axes import A1111_TXT2IMG, find_axis
from studio.scripts.builtin.xyz.plan import AxisValueError, make_plan

CHOICES = Choices(
    samplers=("Euler", "Euler a", "DDIM"),
    schedulers=("Automatic", "Karras"),
    checkpoints=("tiny [0123456789]", "tiny", "other [abcdef0123]", "other"),
    vaes=("vae-a",),
)


def plan(base=None, **given):
    args = XYZPlot().resolve_args(given)
    return make_plan(
        "X/Y/Z plot", base or GenerationRequest(prompt="a red cat", width=64, height=64), args, CHOICES
    )


def test_cells_are_replaced_copies_with_one_fixed_seed():
    result = plan(x_type="Steps", x_values="1-3", y_type="Sampler", y_values_dropdown=["Euler", "DDIM"])
    assert result.shape == (3, 2, 1)
    assert len(result.cells) == 6
    seeds = {cell.request.seed for cell in result.cells}
    assert len(seeds) == 1 and -1 not in seeds
    by_index = {cell.index: cell.request for cell in result.cells}
    assert by_index[(2, 1, 0)].steps == 3 and by_index[(2, 1, 0)].sampler_name == "DDIM"
    assert by_index[(0, 0, 0)].prompt == "a red cat"


def test_keep_random_seeds_and_vary_seeds():
    kept = plan(x_type="Steps", x_values="1, 2", no_fixed_seeds=True)
    assert {cell.request.seed for cell in kept.cells} == {-1}
    varied = plan(GenerationRequest(seed=100), x_type="CFG Scale", x_values="5, 6, 7", vary_seeds_x=True)
    assert [cell.request.seed for cell in varied.cells] == [100, 101, 102]


def test_checkpoint_axis_runs_in_the_outer_loop():
    result = plan(x_type="Checkpoint name", x_values="tiny, other", y_type="Steps", y_values="1-3")
    models = [cell.request.model for cell in result.cells]
    assert models == ["tiny"] * 3 + ["other"] * 3  # one switch, not five


def test_prompt_sr_order_and_size():
    sr = plan(x_type="Prompt S/R", x_values="red, blue, green")
    assert [cell.request.prompt for cell in sr.cells] == ["a red cat", "a blue cat", "a green cat"]
    assert sr.axes[0].labels == ["red", "blue", "green"]
    order = plan(GenerationRequest(prompt="cat, dog, bird"), x_type="Prompt order", x_values="cat, bird")
    assert [cell.request.prompt for cell in order.cells] == ["cat, dog, bird", "bird, dog, cat"]
    size = plan(x_type="Size", x_values="64x128, 128x64")
    assert [(c.request.width, c.request.height) for c in size.cells] == [(64, 128), (128, 64)]


@pytest.mark.parametrize(
    ("given", "axis", "value", "message"),
    [
        ({"x_type": "Steps", "x_values": "10, ten"}, "Steps", "ten", "not an integer"),
        ({"y_type": "Steps", "y_values": "0-2"}, "Steps", "0", "out of range"),
        ({"x_type": "Sampler", "x_values": "Euler, Heun"}, "Sampler", "Heun", "unknown; choose from"),
        ({"x_type": "Checkpoint name", "x_values": "missing"}, "Checkpoint name", "missing", "unknown"),
        ({"z_type": "Prompt S/R", "z_values": "dog, bird"}, "Prompt S/R", "dog", "not found in the prompt"),
        ({"x_type": "Width", "x_values": "100"}, "Width", "100", "multiple of 8"),
        ({"x_type": "CFG Scale", "x_values": "5-x"}, "CFG Scale", "5-x", "not a number"),
        ({"x_type": "Steps", "x_values": ""}, "Steps", "", "no values"),
    ],
)
def test_invalid_values_are_reported_naming_axis_and_value(given, axis, value, message):
    with pytest.raises(AxisValueError) as caught:
        plan(**given)
    assert (caught.value.axis, caught.value.value) == (axis, value)
    assert message in str(caught.value)


def test_a1111_axis_indexes_map_to_names():
    assert A1111_TXT2IMG[4] == "Steps" and find_axis(4).name == "Steps"
    assert find_axis(A1111_TXT2IMG.index("Sampler")).name == "Sampler"
    assert find_axis("cfg scale").name == "CFG Scale"
    assert find_axis(5).name == "Hires steps"  # A1111's index 5, a hires fix axis
    with pytest.raises(KeyError, match="unknown axis 'Image CFG Scale'"):
        find_axis("Image CFG Scale")
    with pytest.raises(RequestError, match="x_type"):
        XYZPlot().resolve_args({"x_type": "Eta"})


def test_too_many_cells_is_refused_before_running():
    with pytest.raises(RequestError, match="at most 1000"):
        plan(x_type="Seed", x_values="1-100", y_type="Var. seed", y_values="1-11")


def test_a1111_indexes_follow_the_img2img_table_for_img2img_requests():
    img2img = GenerationRequest(init_images=(b"png",))
    assert XYZPlot().resolve_args({"x_type": 5}, img2img)["x_type"] == "CFG Scale"
    assert XYZPlot().resolve_args({"x_type": 6}, GenerationRequest())["x_type"] == "CFG Scale"
    assert XYZPlot().resolve_args({"x_type": 10}, img2img)["x_type"] == "Checkpoint name"


def test_name_axes_offer_their_values_for_the_ui():
    from studio.scripts.builtin.xyz.axes import axis_value_choices

    assert axis_value_choices("Sampler", CHOICES) == ["Euler", "Euler a", "DDIM"]
    assert axis_value_choices("VAE", CHOICES) == ["Automatic", "None", "vae-a"]
    assert axis_value_choices("Steps", CHOICES) is None
