"""The built-in X/Y/Z plot script (A1111's "x/y/z plot")."""

from studio.scripts.builtin.xyz.script import XYZ_NAME, XYZPlot

__all__ = ["XYZ_NAME", "XYZPlot"]
