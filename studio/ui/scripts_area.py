"""The script controls under a generation form, built from the scripts the studio loaded.

`build_script_area(scripts, prefix)` receives `ScriptControls` (name, typed `Param`s, whether the
script is selectable) and makes:
- a "Script" dropdown over the selectable scripts (X/Y/Z plot ...), showing the chosen one's
  parameters; the choice runs *instead of* normal generation;
- an accordion per always-on script with an "Enable" box and its parameters.
Values go into `GenerationRequest.scripts` by name: `{"X/Y/Z plot": {"x_type": "Steps", ...}}`.
With no scripts the area is a "None" dropdown only. For X/Y/Z-style axes (`x_type` +
`x_values_dropdown` ...), `value_choices(axis)` fills the values list when the axis changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from studio.scripts.ui_controls import collect_args, gradio_control
from studio.ui.backend import ScriptControls

NO_SCRIPT = "None"


@dataclass
class ScriptArea:
    picker: gr.Dropdown
    # script name -> (params, {parameter name -> widget})
    selectable: dict[str, tuple[Sequence[Any], dict[str, Any]]] = field(default_factory=dict)
    # script name -> (enable checkbox, params, {parameter name -> widget})
    alwayson: dict[str, tuple[gr.Checkbox, Sequence[Any], dict[str, Any]]] = field(default_factory=dict)
    # always-on script name -> its accordion (hidden while the script is not registered)
    accordions: dict[str, gr.Accordion] = field(default_factory=dict)

    @property
    def sync_outputs(self) -> list[Any]:
        """What `sync` updates: the picker, then each always-on script's accordion and checkbox."""
        widgets: list[Any] = [self.picker]
        for name, accordion in self.accordions.items():
            widgets += [accordion, self.alwayson[name][0]]
        return widgets

    def sync(self, registered: Sequence[str]) -> list[Any]:
        """Updates that show only the scripts registered now (an extension disabled since the
        page was built loses its controls; a hidden always-on script is not enabled)."""
        names = [name for name in self.selectable if name in registered]
        updates: list[Any] = [gr.update(choices=[NO_SCRIPT, *names])]
        for name in self.accordions:
            shown = name in registered
            updates += [gr.update(visible=shown), gr.update() if shown else gr.update(value=False)]
        return updates

    @property
    def inputs(self) -> set[Any]:
        widgets: set[Any] = {self.picker}
        for _, controls in self.selectable.values():
            widgets.update(controls.values())
        for enable, _, controls in self.alwayson.values():
            widgets.add(enable)
            widgets.update(controls.values())
        return widgets

    def request_fields(self, data: Mapping[Any, Any]) -> dict[str, Any]:
        """`{"scripts": {name: {param: value}}}` for the chosen and enabled scripts, else `{}`."""
        scripts: dict[str, dict[str, Any]] = {}
        chosen = data.get(self.picker, NO_SCRIPT)
        if chosen in self.selectable:
            params, controls = self.selectable[chosen]
            scripts[chosen] = collect_args(params, [data[controls[p.name]] for p in params])
        for name, (enable, params, controls) in self.alwayson.items():
            if data.get(enable):
                scripts[name] = collect_args(params, [data[controls[p.name]] for p in params])
        return {"scripts": scripts} if scripts else {}


def _controls(params: Sequence[Any], elem_prefix: str) -> dict[str, Any]:
    controls = {}
    for param in params:
        widget = gradio_control(param)
        widget.elem_id = f"{elem_prefix}_{param.name}"
        controls[param.name] = widget
    return controls


def wire_axis_value_lists(
    controls: Mapping[str, Any], value_choices: Callable[[str], list[str] | None] | None
) -> None:
    """X/Y/Z-style axes: when `<l>_type` changes, offer that axis's values in `<l>_values_dropdown`."""
    if value_choices is None:
        return
    for letter in "xyz":
        kind, values = controls.get(f"{letter}_type"), controls.get(f"{letter}_values_dropdown")
        if kind is None or values is None:
            continue

        def offer(axis: str | None) -> Any:
            try:
                choices = value_choices(axis) if axis else None
            except (KeyError, ValueError):
                choices = None
            return gr.update(choices=choices or [], value=[])

        kind.change(offer, kind, values, show_progress="hidden")


def build_script_area(
    scripts: Sequence[ScriptControls],
    prefix: str,
    value_choices: Callable[[str], list[str] | None] | None = None,
) -> ScriptArea:
    selectable = [script for script in scripts if script.selectable]
    names = [script.name for script in selectable]
    picker = gr.Dropdown([NO_SCRIPT, *names], value=NO_SCRIPT, label="Script", elem_id=f"{prefix}_script")
    area = ScriptArea(picker=picker)
    groups = []
    for index, script in enumerate(selectable):
        with gr.Group(visible=False, elem_id=f"{prefix}_script{index}") as group:
            area.selectable[script.name] = (
                script.params,
                _controls(script.params, f"{prefix}_script{index}"),
            )
        groups.append(group)
    if groups:
        picker.change(
            lambda chosen: {
                group: gr.update(visible=chosen == name) for group, name in zip(groups, names, strict=True)
            },
            picker,
            groups,
            queue=False,
            show_progress="hidden",
        )
    for index, script in enumerate(s for s in scripts if not s.selectable):
        with gr.Accordion(script.name, open=False, elem_id=f"{prefix}_alwayson{index}") as accordion:
            enable = gr.Checkbox(False, label="Enable", elem_id=f"{prefix}_alwayson{index}_enable")
            controls = _controls(script.params, f"{prefix}_alwayson{index}")
        area.accordions[script.name] = accordion
        area.alwayson[script.name] = (enable, script.params, controls)
    return area
