"""The "Script" picker under the generation form, built from the scripts the studio loaded.

`build_script_area(scripts, prefix)` receives the script objects (from the script system) and
makes a dropdown plus one group of widgets per script, built from each script's declared
parameters. The chosen script's values go into `GenerationRequest.scripts` by name:
`{"X/Y/Z plot": {"x_type": "Steps", ...}}`. With no scripts it shows a "None" picker only.

A script is read duck-typed: a `name` (or `title`), and `parameters` — a sequence of objects or
dicts with `name`, `kind` ("text", "number", "int", "bool", "choice"), `default`, and optional
`label`, `choices`, `minimum`, `maximum`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

NO_SCRIPT = "None"


def _get(item: Any, key: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(key, default)
    return getattr(item, key, default)


def script_name(script: Any) -> str:
    return str(_get(script, "name") or _get(script, "title") or type(script).__name__)


def _widget(param: Any, elem_id: str) -> gr.components.Component:
    kind = str(_get(param, "kind") or _get(param, "type") or "text")
    name = str(_get(param, "name"))
    label = str(_get(param, "label") or name.replace("_", " ").capitalize())
    default = _get(param, "default")
    choices = _get(param, "choices")
    if choices:
        return gr.Dropdown(list(choices), value=default, label=label, elem_id=elem_id)
    if kind in ("bool", "boolean", "checkbox"):
        return gr.Checkbox(value=bool(default), label=label, elem_id=elem_id)
    if kind in ("int", "integer", "number", "float"):
        return gr.Number(
            value=default,
            label=label,
            minimum=_get(param, "minimum"),
            maximum=_get(param, "maximum"),
            precision=0 if kind in ("int", "integer") else None,
            elem_id=elem_id,
        )
    return gr.Textbox(value="" if default is None else str(default), label=label, elem_id=elem_id)


@dataclass
class ScriptArea:
    picker: gr.Dropdown
    # script name -> {parameter name -> widget}
    widgets: dict[str, dict[str, gr.components.Component]] = field(default_factory=dict)

    @property
    def inputs(self) -> set[gr.components.Component]:
        return {self.picker} | {w for group in self.widgets.values() for w in group.values()}

    def request_fields(self, data: Mapping[Any, Any]) -> dict[str, Any]:
        """`{"scripts": {name: {param: value}}}` for the chosen script, `{}` for None."""
        chosen = data.get(self.picker, NO_SCRIPT)
        if not chosen or chosen == NO_SCRIPT or chosen not in self.widgets:
            return {}
        params = {name: data.get(widget) for name, widget in self.widgets[chosen].items()}
        return {"scripts": {chosen: params}}


def build_script_area(scripts: Sequence[Any], prefix: str) -> ScriptArea:
    names = [script_name(script) for script in scripts]
    picker = gr.Dropdown([NO_SCRIPT, *names], value=NO_SCRIPT, label="Script", elem_id=f"{prefix}_script")
    area = ScriptArea(picker=picker)
    groups = []
    for index, (script, name) in enumerate(zip(scripts, names, strict=True)):
        with gr.Group(visible=False) as group:
            area.widgets[name] = {
                str(_get(param, "name")): _widget(param, f"{prefix}_script{index}_{_get(param, 'name')}")
                for param in (_get(script, "parameters") or ())
            }
        groups.append(group)
    if groups:
        picker.change(
            lambda chosen: [gr.update(visible=chosen == name) for name in names],
            picker,
            groups,
            queue=False,
            show_progress="hidden",
        )
    return area
