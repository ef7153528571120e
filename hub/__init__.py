"""Atelier hub: an offline mirror of a model catalog, and the hub server it syncs with.

Nothing under `hub/` imports `studio/`, torch or diffusers.
"""
