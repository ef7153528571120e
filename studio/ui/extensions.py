"""The Extensions tab: install, enable, disable, update and uninstall extensions; the scripts.

The same extension service as the HTTP routes (`studio.http.extensions`), through the backend;
the tables are read again at every page load and after every action, so a change made through
the API shows after a reload. Installing from a path on the studio's machine is allowed only to
a browser on that machine (as the HTTP route): others upload a zip or give a git URL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from studio.ui.backend import ExtensionView, UIBackend

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
INSTALL_KINDS = ["auto", "folder", "zip", "git"]
OPERATIONS = ("enable", "disable", "update", "uninstall")


@dataclass
class ExtensionsTab:
    # (function, inputs, outputs): read the extensions and scripts again; run at page load
    refresh: tuple[Callable[[], tuple[Any, ...]], list[Any], list[Any]]


def extension_rows(extensions: list[ExtensionView]) -> list[list[str]]:
    return [
        [
            item.name,
            "error" if item.error else ("enabled" if item.enabled else "disabled"),
            item.version,
            item.source or ("shipped" if item.shipped else ""),
            item.commit,
            item.error or "",
            item.path,
        ]
        for item in extensions
    ]


def script_rows(scripts: list[dict[str, str]]) -> list[list[str]]:
    return [[row["name"], row["kind"], row["source"], row["description"]] for row in scripts]


def build_extensions_tab(backend: UIBackend) -> ExtensionsTab:
    gr.Markdown("### Extensions")
    table = gr.Dataframe(
        extension_rows(backend.extensions()),
        headers=["Name", "State", "Version", "Source", "Commit", "Error", "Folder"],
        interactive=False,
        elem_id="extensions_table",
    )
    with gr.Row(equal_height=True):
        chosen = gr.Dropdown(
            [item.name for item in backend.extensions()],
            label="Extension",
            elem_id="extensions_name",
            scale=3,
        )
        buttons = {
            operation: gr.Button(
                operation.capitalize(),
                size="sm",
                variant="stop" if operation == "uninstall" else "secondary",
                elem_id=f"extensions_{operation}",
                scale=0,
                min_width=100,
            )
            for operation in OPERATIONS
        }
    gr.Markdown("#### Install")
    with gr.Row(equal_height=True):
        source = gr.Textbox(
            label="Git URL, or a folder / .zip path on the studio's machine",
            elem_id="extensions_source",
            scale=4,
        )
        kind = gr.Dropdown(INSTALL_KINDS, value="auto", label="Kind", elem_id="extensions_kind", scale=1)
        install = gr.Button(
            "Install", variant="primary", elem_id="extensions_install", scale=0, min_width=100
        )
    upload = gr.File(
        label="…or upload a .zip", file_types=[".zip"], type="filepath", elem_id="extensions_zip"
    )
    message = gr.Markdown("", elem_id="extensions_message")
    gr.Markdown(
        "Enable, disable, install and uninstall take effect at once for the API and new requests; "
        "reload the page to add or remove a script's controls in the generation tabs."
    )
    gr.Markdown("### Scripts")
    scripts_table = gr.Dataframe(
        script_rows(backend.script_table()),
        headers=["Name", "Kind", "Source", "Description"],
        interactive=False,
        elem_id="scripts_table",
    )

    def current(selected: str | None = None) -> tuple[Any, ...]:
        extensions = backend.extensions()
        names = [item.name for item in extensions]
        return (
            extension_rows(extensions),
            gr.update(choices=names, value=selected if selected in names else None),
            script_rows(backend.script_table()),
        )

    outputs = [table, chosen, scripts_table]

    def do(operation: str) -> Callable[..., tuple[Any, ...]]:
        def run(name: str | None) -> tuple[Any, ...]:
            if not name:
                return ("**Choose an extension first.**", *current())
            try:
                text = backend.manage_extension(operation, name)
            except ValueError as error:
                return (f"**{operation.capitalize()} failed** — {error}", *current(name))
            return (text, *current(name))

        return run

    for operation, button in buttons.items():
        button.click(do(operation), chosen, [message, *outputs], show_progress="hidden")

    def on_install(text: str, install_kind: str, request: gr.Request) -> tuple[Any, ...]:
        host = request.client.host if request and request.client else ""
        try:
            said = backend.install_extension(text, install_kind, local_allowed=host in LOOPBACK)
        except ValueError as error:
            return (f"**Install failed** — {error}", *current())
        return (said, *current())

    install.click(on_install, [source, kind], [message, *outputs], show_progress="hidden")

    def on_upload(path: str | None) -> tuple[Any, ...]:
        if not path:
            return ("", *current())
        file = Path(path)
        try:
            said = backend.install_extension_zip(file.read_bytes(), file.name)
        except ValueError as error:
            return (f"**Install failed** — {error}", *current())
        return (said, *current())

    upload.upload(on_upload, upload, [message, *outputs], show_progress="hidden")
    return ExtensionsTab(refresh=(lambda: current(), [], outputs))
