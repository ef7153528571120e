"""The Settings tab: paths, default model, output, device, the cost check, memory options and
the hub server with the account's API key (shown masked, never in full).

Saved to the user's config file through the backend (`studio.config.save_settings`); the
message after saving says which settings took effect at once and which wait for a restart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from studio.config import (
    BACKENDS,
    COST_CHECK_MODES,
    DTYPE_CHOICES,
    MASK,
    MEMORY_POLICIES,
    QUANTIZE_MODES,
    ConfigError,
    masked,
)
from studio.ui.backend import UIBackend

if TYPE_CHECKING:
    from studio.config import StudioConfig


# The notify-when-done choice belongs to the browser: saved in its localStorage at once.
NOTIFY_CHANGE_JS = """(on) => {
  localStorage.setItem('atelier-notify', on ? '1' : '0');
  if (on && window.Notification && Notification.permission === 'default') Notification.requestPermission();
}"""
NOTIFY_LOAD_JS = "() => localStorage.getItem('atelier-notify') === '1'"


@dataclass
class SettingsTab:
    widgets: dict[str, gr.components.Component]
    save: gr.Button
    message: gr.Markdown
    notify: gr.Checkbox  # kept in the browser (localStorage), not in the config file
    shown: gr.State  # the values the form was filled with (what was in effect then)
    # (function, inputs, outputs): fill the form with what is in effect; run at page load
    refresh: tuple[Callable[[], list[Any]], list[Any], list[Any]]


def settings_values(config: StudioConfig) -> dict[str, Any]:
    """Widget name -> value for what `config` has in effect (the inverse of `settings_changes`)."""
    return {
        "models_dir": str(config.models_dir or ""),
        "outputs_dir": str(config.outputs_dir or ""),
        "default_model": config.default_model or "",
        "samples_save": config.samples_save,
        "clip_skip": config.clip_skip,
        "device": config.device,
        "dtype": config.dtype,
        "memory_policy": config.memory_policy,
        "model_cache_size": config.model_cache_size,
        "allow_pickle": config.allow_pickle,
        "cost_check": config.cost_check,
        "max_job_seconds": config.max_job_seconds,
        "memory": json.dumps(dict(config.memory), indent=2),
        "hub_server": config.hub_server or "",
        "hub_api_key": masked(config.hub_api_key) or "",
        "backend": config.backend,
        "openvino_int8": config.openvino_int8,
        "torch_compile": config.torch_compile,
        "channels_last": config.channels_last,
        "quantize_unet": config.quantize_unet,
        "quantize_text_encoder": config.quantize_text_encoder,
        "worker_process": config.worker_process,
    }


def edited_changes(shown: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The changes for the widgets the person edited since the form was filled (`shown`).

    A widget left as shown is not saved, so a stale form never writes over a newer save.
    Raises ConfigError naming a bad field (of every field: a bad value anywhere is reported).
    """
    changes = settings_changes(values)
    if not shown:
        return changes
    before = settings_changes({**values, **shown})
    edited = {name: value for name, value in changes.items() if before.get(name) != value}
    if "hub_api_key" in changes and values.get("hub_api_key") != shown.get("hub_api_key"):
        edited["hub_api_key"] = changes["hub_api_key"]  # a key cleared: forgotten
    return edited


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
    changes["dtype"] = values.get("dtype") or "auto"
    changes["memory_policy"] = values.get("memory_policy") or "auto"
    for name in ("model_cache_size", "clip_skip"):
        try:
            changes[name] = int(values.get(name))
        except (TypeError, ValueError) as error:
            raise ConfigError(name, "expected a whole number") from error
    changes["allow_pickle"] = bool(values.get("allow_pickle"))
    changes["worker_process"] = bool(values.get("worker_process"))
    changes["cost_check"] = values.get("cost_check") or "warn"
    try:
        changes["max_job_seconds"] = float(values.get("max_job_seconds"))
    except (TypeError, ValueError) as error:
        raise ConfigError("max_job_seconds", "expected a number of seconds") from error
    memory_text = (values.get("memory") or "").strip() or "{}"
    try:
        memory = json.loads(memory_text)
    except json.JSONDecodeError as error:
        raise ConfigError("memory", f"not valid JSON ({error.msg})") from error
    if not isinstance(memory, dict):
        raise ConfigError("memory", "expected a JSON object: strategy name -> options")
    changes["memory"] = memory
    changes["hub_server"] = (values.get("hub_server") or "").strip() or None
    key = (values.get("hub_api_key") or "").strip()
    if not key.startswith(MASK):  # the masked key shown back means: keep the saved one
        changes["hub_api_key"] = key or None
    changes["backend"] = values.get("backend") or "auto"
    changes["openvino_int8"] = bool(values.get("openvino_int8"))
    changes["torch_compile"] = bool(values.get("torch_compile"))
    changes["channels_last"] = bool(values.get("channels_last"))
    for name in ("quantize_unet", "quantize_text_encoder"):
        changes[name] = values.get(name) or "none"
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
            widgets["dtype"] = gr.Dropdown(
                list(DTYPE_CHOICES),
                value=config.dtype,
                label="Precision (dtype)",
                info="auto: bf16/fp16 on GPUs (VAE upcast to fp32 beside fp16), bf16 on CPUs with "
                "AVX-512 BF16 or AMX, fp32 elsewhere (after a restart)",
                elem_id="settings_dtype",
            )
            widgets["memory_policy"] = gr.Dropdown(
                list(MEMORY_POLICIES),
                value=config.memory_policy,
                label="Memory policy",
                info="auto: before each job, add the cheapest memory strategies that make it fit "
                "in the free memory (reported in the result); off: only the strategies below",
                elem_id="settings_memory_policy",
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
            widgets["cost_check"] = gr.Dropdown(
                list(COST_CHECK_MODES),
                value=config.cost_check,
                label="Cost check: before a job runs, estimate its time and memory",
                info="warn: run it and say so; refuse: do not queue it (off: no estimate)",
                elem_id="settings_cost_check",
            )
            widgets["max_job_seconds"] = gr.Number(
                value=config.max_job_seconds,
                label="Longest job (seconds) before the cost check warns or refuses",
                minimum=0.01,
                elem_id="settings_max_job_seconds",
            )
            widgets["worker_process"] = gr.Checkbox(
                value=config.worker_process,
                label="Run the engine in its own worker process (after a restart)",
                info="keeps the UI and the API responsive during a job; a crashed engine fails "
                "only its job. Off: on a thread of the web server",
                elem_id="settings_worker_process",
            )
            widgets["memory"] = gr.Code(
                value=json.dumps(dict(config.memory), indent=2),
                language="json",
                label="Memory strategies (name -> options)",
                elem_id="settings_memory",
            )
            gr.Markdown("### Speed (docs/performance.md)")
            widgets["backend"] = gr.Dropdown(
                list(BACKENDS),
                value=config.backend,
                label="Backend for the UNet and VAE decoder",
                info="auto: openvino on a CPU for full-size SD 1.x/2.x/SDXL models (exported once "
                "into models/OpenVINO), torch otherwise",
                elem_id="settings_backend",
            )
            widgets["openvino_int8"] = gr.Checkbox(
                value=config.openvino_int8,
                label="OpenVINO UNet in int8",
                info="quantized once per model and LoRA set (minutes); measured ~1.5x faster than "
                "OpenVINO's bf16 on a CPU, with a visible loss of quality on the starter model",
                elem_id="settings_openvino_int8",
            )
            widgets["torch_compile"] = gr.Checkbox(
                value=config.torch_compile,
                label="torch.compile the UNet/transformer (torch backend)",
                info="compiles for minutes at each new size; measured ~1.07x on a CPU",
                elem_id="settings_torch_compile",
            )
            widgets["channels_last"] = gr.Checkbox(
                value=config.channels_last,
                label="Channels-last weights (UNet and VAE)",
                info="measured 1.0x on a CPU",
                elem_id="settings_channels_last",
            )
            widgets["quantize_unet"] = gr.Dropdown(
                list(QUANTIZE_MODES),
                value=config.quantize_unet,
                label="Quantize the UNet/transformer weights",
                info="saves memory; no LoRAs on a quantized model",
                elem_id="settings_quantize_unet",
            )
            widgets["quantize_text_encoder"] = gr.Dropdown(
                list(QUANTIZE_MODES),
                value=config.quantize_text_encoder,
                label="Quantize the text encoder weights",
                elem_id="settings_quantize_text_encoder",
            )
    gr.Markdown("### Hub")
    with gr.Row():
        widgets["hub_server"] = gr.Textbox(
            value=str(config.hub_server or ""),
            label="Hub server (the Hub tab syncs from it and downloads through it)",
            placeholder="http://…",
            elem_id="settings_hub_server",
        )
        widgets["hub_api_key"] = gr.Textbox(
            value=masked(config.hub_api_key) or "",
            label="Your API key on the hub server (shown masked; clear the box to forget it)",
            elem_id="settings_hub_api_key",
        )
    gr.Markdown("### This browser")
    notify = gr.Checkbox(
        value=False,
        label="Sound (and a notification when the tab is hidden) when a generation finishes",
        elem_id="settings_notify",
    )
    notify.change(None, notify, None, js=NOTIFY_CHANGE_JS)
    save = gr.Button("Save settings", variant="primary", elem_id="settings_save")
    message = gr.Markdown("", elem_id="settings_message")
    names = list(widgets)
    shown = gr.State(settings_values(config))

    def on_save(before: dict[str, Any], *values: Any) -> tuple[str, dict[str, Any], Any]:
        try:
            changes = edited_changes(before, dict(zip(names, values, strict=True)))
            saved = backend.save_settings(changes)
        except (ConfigError, ValueError) as error:
            return f"**Not saved** — {error}", before, gr.update()
        lines = ["**Saved.**"] if saved.applied or saved.on_restart else ["Nothing changed."]
        if saved.applied:
            lines.append(f"In effect now: {', '.join(saved.applied)}.")
        if saved.on_restart:
            lines.append(f"After a restart: {', '.join(saved.on_restart)}.")
        now = settings_values(saved.config)
        return " ".join(lines), now, now["hub_api_key"]  # the key shown masked at once

    save.click(
        on_save,
        [shown, *(widgets[name] for name in names)],
        [message, shown, widgets["hub_api_key"]],
        show_progress="hidden",
    )

    def fill() -> list[Any]:
        values = settings_values(backend.config)
        choices = {"default_model": ["", *backend.checkpoints()]}
        updates = [
            gr.update(value=values[name], choices=choices[name]) if name in choices else values[name]
            for name in names
        ]
        return [*updates, values]

    refresh = (fill, [], [*(widgets[name] for name in names), shown])
    return SettingsTab(
        widgets=widgets, save=save, message=message, notify=notify, shown=shown, refresh=refresh
    )
