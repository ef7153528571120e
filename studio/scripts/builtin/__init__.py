"""Scripts that ship with Atelier; they register through the same manager as extensions."""

from __future__ import annotations

from studio.scripts.base import Script


def builtin_scripts() -> list[Script]:
    from studio.scripts.builtin.xyz import XYZPlot

    return [XYZPlot()]
