"""Scripts and extensions: hook specs, the Script base, the manager, extensions, built-ins.

Import the pieces from their modules (`studio.scripts.manager`, `.base`, `.params`,
`.extensions`, `.builtin.xyz`); extensions import only `studio.api`.
"""
