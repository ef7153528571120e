"""The studio's browser UI (Gradio Blocks), one module per tab; no generation logic here.

`build_blocks(services)` is what the app factory (`studio.http.app.mount_ui`) mounts at `/`.
Importing this package is free: Gradio is imported only when the page is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import gradio as gr

    from studio.ui.services_backend import UIServices


def build_blocks(services: UIServices) -> gr.Blocks:
    """The whole page for the composition root's `Services`."""
    from studio.ui.blocks import build_ui
    from studio.ui.services_backend import ServicesBackend

    return build_ui(ServicesBackend(services))


__all__ = ["build_blocks"]
