"""The Settings tab: paths, default model, output, device and memory options.

Saved to the user's config file through the backend (`studio.config.save_settings`); the
message after saving says which settings took effect at once and which wait for a restart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import gradio as gr

from studio.config import ConfigError
from studio.ui.backend import UIBackend


@dataclass
class SettingsTab:
    widgets: dict[str, gr.components.Component]
    save: gr.Button
    message: gr.Markdown


def settings_changes(values: dict[str, Any]) -> dict[str, Any]:
    """Config field -> value from the widgets; raises ConfigError naming a bad field."""
    changes: dict[str, Any] = {}
    for name in ("models_dir", "outputs_dir"):
        text = (values.get(name) or "").strip()
        changes[name] = text or None
    model = values.get("default_model")
    changes["default_model"] = model or None
    changes["samples_save"] = bool(values.get("samples_save"))
    changes["device"] = values.get("device") or "auto"
    for name in ("model_cache_size", "clip_skip"):
        try:
            changes[name] = int(values.get(name))
        except (TypeError, ValueError) as error:
            raise ConfigError(name, "expected a whole number") from error
    changes["allow_pickle"] = bool(values.get("allow_pickle"))
    memory_text = (values.get("memory") or "").strip() or "{}"
    try:
        memory = json.loads(memory_text)
    except json.JSONDecodeError as error:
        raise ConfigError("memory", f"not valid JSON ({error.msg})") from error
    if not isinstance(memory, dict):
        raise ConfigError("memory", "expected a JSON object: strategy name -> options")
    changes["memory"] = memory
    return changes


def build_settings_tab(backend: UIBackend) -> SettingsTab:
    config = backend.config
    widgets: dict[str, gr.components.Component] = {}
    gr.Markdown(f"Settings are saved to `{config.config_file}`.", elem_id="settings_file")
    with gr.Row():
        with gr.Column():
            gr.Markdown("### Paths")
            widgets["models_dir"] = gr.Textbox(
                value=str(config.models_dir or ""),
                label=f"Models folder (empty: {config.data_dir / 'models'})",
                elem_id="settings_models_dir",
            )
            widgets["outputs_dir"] = gr.Textbox(
                value=str(config.outputs_dir or ""),
                label=f"Outputs folder (empty: {config.data_dir / 'outputs'})",
                elem_id="settings_outputs_dir",
            )
            gr.Markdown("### Models and output")
            checkpoints = backend.checkpoints()
            widgets["default_model"] = gr.Dropdown(
                ["", *checkpoints],
                value=config.default_model or "",
                label="Default model",
                allow_custom_value=True,
                elem_id="settings_default_model",
            )
            widgets["samples_save"] = gr.Checkbox(
                value=config.samples_save, label="Save every generated image", elem_id="settings_samples_save"
            )
            widgets["clip_skip"] = gr.Slider(
                1, 12, value=config.clip_skip, step=1, label="Clip skip", elem_id="settings_clip_skip"
            )
        with gr.Column():
            gr.Markdown("### Device and memory")
            widgets["device"] = gr.Dropdown(
                ["auto", *backend.device_names()],
                value=config.device,
                label="Device",
                allow_custom_value=True,
                elem_id="settings_device",
            )
            widgets["model_cache_size"] = gr.Number(
                value=config.model_cache_size,
                label="Models kept loaded",
                precision=0,
                minimum=1,
                maximum=16,
                elem_id="settings_model_cache_size",
            )
            widgets["allow_pickle"] = gr.Checkbox(
                value=config.allow_pickle,
                label="Allow pickle checkpoints (.ckpt): they can run code",
                elem_id="settings_allow_pickle",
            )
            widgets["memory"] = gr.Code(
                value=json.dumps(dict(config.memory), indent=2),
                language="json",
                label="Memory strategies (name -> options)",
                elem_id="settings_memory",
            )
    save = gr.Button("Save settings", variant="primary", elem_id="settings_save")
    message = gr.Markdown("", elem_id="settings_message")
    names = list(widgets)

    def on_save(*values: Any) -> str:
        try:
            changes = settings_changes(dict(zip(names, values, strict=True)))
            saved = backend.save_settings(changes)
        except (ConfigError, ValueError) as error:
            return f"**Not saved** — {error}"
        lines = ["**Saved.**"]
        if saved.applied:
            lines.append(f"In effect now: {', '.join(saved.applied)}.")
        if saved.on_restart:
            lines.append(f"After a restart: {', '.join(saved.on_restart)}.")
        return " ".join(lines)

    save.click(on_save, [widgets[name] for name in names], message, show_progress="hidden")
    return SettingsTab(widgets=widgets, save=save, message=message)
