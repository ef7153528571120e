"""What the store raises; the routes turn these into 404 and 409 answers."""

from __future__ import annotations


class NotFound(LookupError):
    """The entity asked for does not exist."""


class Conflict(ValueError):
    """A write that would break a uniqueness rule (e.g. a taken username)."""
