"""The stable surface for extensions: the one module third-party code imports.

(The HTTP routes live in sibling modules of this package; this `__init__` only re-exports the
public names extensions may rely on. A test pins them.)
"""
