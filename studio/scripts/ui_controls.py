"""Gradio controls built from typed script parameters (for the UI's Script dropdown and tabs).

    with gr.Blocks():
        controls = gradio_controls(script.params)        # {param name: component}
    ...
    args = collect_args(script.params, values)           # component values -> {name: value}

Gradio is imported when called, never at import time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from studio.scripts.params import Param


def gradio_control(param: Param) -> Any:
    """One Gradio component for `param` (must be called inside a Blocks context)."""
    import gradio as gr

    common = {"label": param.title, "info": param.help or None}
    if param.type == "bool":
        return gr.Checkbox(value=bool(param.default), **common)
    if param.type in ("int", "float"):
        step = param.step or (1 if param.type == "int" else 0.01)
        if param.minimum is not None and param.maximum is not None:
            return gr.Slider(
                minimum=param.minimum, maximum=param.maximum, step=step, value=param.default, **common
            )
        return gr.Number(value=param.default, precision=0 if param.type == "int" else None, **common)
    if param.type == "choice":
        return gr.Dropdown(choices=list(param.choices), value=param.default, **common)
    if param.type in ("multichoice", "list"):
        return gr.Dropdown(
            choices=list(param.choices),
            value=list(param.default or ()),
            multiselect=True,
            allow_custom_value=param.type == "list",
            **common,
        )
    return gr.Textbox(value=param.default or "", lines=3 if param.type == "text" else 1, **common)


def gradio_controls(params: Sequence[Param]) -> dict[str, Any]:
    """A component per parameter, in declaration order, keyed by parameter name."""
    return {param.name: gradio_control(param) for param in params}


def collect_args(params: Sequence[Param], values: Sequence[Any] | Mapping[str, Any]) -> dict[str, Any]:
    """Component values (in `params` order, or by name) -> the script's args by name."""
    if isinstance(values, Mapping):
        return {param.name: values[param.name] for param in params if param.name in values}
    named = {}
    for param, value in zip(params, values, strict=True):
        if param.type == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        named[param.name] = value
    return named
