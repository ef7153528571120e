"""The Extensions tab: the extensions and scripts the studio found, and whether they loaded."""

from __future__ import annotations

import gradio as gr

from studio.ui.backend import ExtensionView


def extension_rows(extensions: list[ExtensionView]) -> list[list[str]]:
    return [
        [
            item.name,
            "error" if item.error else ("enabled" if item.enabled else "disabled"),
            item.error or "",
            item.path,
        ]
        for item in extensions
    ]


def build_extensions_tab(extensions: list[ExtensionView], scripts: list[dict[str, str]]) -> None:
    gr.Markdown("### Scripts")
    gr.Dataframe(
        [[row["name"], row["kind"], row["source"], row["description"]] for row in scripts],
        headers=["Name", "Kind", "Source", "Description"],
        interactive=False,
        elem_id="scripts_table",
    )
    gr.Markdown(
        "### Extensions\nExtensions live in the `extensions/` folder, one folder each. Restart to load new ones."
    )
    gr.Dataframe(
        extension_rows(extensions),
        headers=["Name", "State", "Error", "Folder"],
        interactive=False,
        elem_id="extensions_table",
    )
