"""`python launch.py test [pytest args]`: run the test suite."""

from __future__ import annotations

import sys

from studio.config import PROJECT_ROOT


def main(argv: list[str]) -> int:
    import pytest

    args = argv or [str(PROJECT_ROOT / "tests")]
    return int(pytest.main(["-p", "no:cacheprovider", "--rootdir", str(PROJECT_ROOT), *args]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
