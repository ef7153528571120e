"""`python launch.py test [pytest args]`: run the test suite.

With no arguments, which is what CI runs (`.ci/run`), the project is linted first: `ruff check`
then `ruff format --check`, and the first that fails ends the run before any test starts, so a
lint error fails CI in seconds. With arguments, pytest alone runs with them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from studio.config import PROJECT_ROOT

RUFF_COMMANDS = (("check",), ("format", "--check"))


def lint(root: Path) -> int:
    """Run each of RUFF_COMMANDS over `root` (its pyproject holds the settings); the first failure's status."""
    for command in RUFF_COMMANDS:
        code = subprocess.run([sys.executable, "-m", "ruff", *command, str(root)], cwd=root).returncode
        if code:
            return code
    return 0


def main(argv: list[str]) -> int:
    import pytest

    if not argv:
        code = lint(PROJECT_ROOT)
        if code:
            return code
    args = argv or [str(PROJECT_ROOT / "tests")]
    return int(pytest.main(["-p", "no:cacheprovider", "--rootdir", str(PROJECT_ROOT), *args]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
