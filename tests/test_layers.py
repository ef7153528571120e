"""The layer rules as a test: which package may import which, read from the source with `ast`.

The rules are data (`RULES`): each names the modules it applies to (by prefix), the modules they
must not import (by prefix) and the exceptions allowed, each with its reason. Every import counts,
including the lazy ones inside functions (a lazy import is still a dependency) and constant
`importlib.import_module("...")` calls; only `if TYPE_CHECKING:` blocks are skipped (they never
run). The checker itself is tested on a synthetic tree, so a rule that passes here is one that
could have failed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("studio", "hub", "sqlitedb")

# The HTTP layer's modules while it still lives in studio/api/ (it is moving to studio/http/,
# after which `studio.api` is only the extension surface). Forbidding them stays harmless after.
HTTP_LAYER = ("studio.http",)
WEB_FRAMEWORKS = ("fastapi", "starlette", "uvicorn", "gradio")


@dataclass(frozen=True)
class Rule:
    """Modules under any of `importers` import nothing under any of `forbidden`, except `allowed`.

    `allowed` maps (importing module, imported module prefix) to the reason it is allowed.
    """

    name: str
    importers: tuple[str, ...]
    forbidden: tuple[str, ...]
    allowed: Mapping[tuple[str, str], str] = field(default_factory=dict)


RULES = (
    Rule("hub-and-sqlitedb-never-import-studio", ("hub", "sqlitedb"), ("studio",)),
    Rule("sqlitedb-never-imports-hub", ("sqlitedb",), ("hub",)),
    Rule(
        "engine-and-queue-know-no-http-or-ui",
        ("studio.pipeline", "studio.jobs"),
        (*HTTP_LAYER, "studio.app", "studio.ui", *WEB_FRAMEWORKS),
    ),
    # studio.app, the composition root, is the one place that builds the engine for the services
    Rule(
        "ui-and-http-reach-the-engine-only-through-services",
        ("studio.ui", "studio.http", *HTTP_LAYER),
        ("studio.pipeline",),
    ),
    Rule(
        "extension-surface-has-no-fastapi-or-torch",
        ("studio.api",),
        ("torch", "diffusers", *WEB_FRAMEWORKS, *HTTP_LAYER, "studio.ui", "studio.pipeline", "studio.app"),
    ),
)


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    importer: str
    imported: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.importer} imports {self.imported} ({self.rule})"


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk_runtime(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under `node` except the bodies of `if TYPE_CHECKING:` blocks."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield other
                yield from _walk_runtime(other)
            continue
        yield child
        yield from _walk_runtime(child)


def _resolve_relative(package: str, level: int, module: str | None) -> str:
    base = package.split(".")
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])


def imports_of(root: Path, path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line, names) per import in `path`: `from a import b` gives both `a` and `a.b`."""
    module = module_name(root, path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in _walk_runtime(tree):
        if isinstance(node, ast.Import):
            yield node.lineno, [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(package, node.level, node.module) if node.level else node.module or ""
            yield node.lineno, [base, *(f"{base}.{a.name}" for a in node.names if a.name != "*")]
        elif isinstance(node, ast.Call) and node.args:
            function = node.func
            called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
            target = node.args[0]
            if (
                called in ("import_module", "__import__")
                and isinstance(target, ast.Constant)
                and isinstance(target.value, str)
                and not target.value.startswith(".")
            ):
                yield node.lineno, [target.value]


def python_files(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[Path]:
    return sorted(path for package in packages for path in (root / package).rglob("*.py"))


def check(root: Path, rules: tuple[Rule, ...], packages: tuple[str, ...] = PACKAGES) -> list[Violation]:
    """Every import under `root`'s packages that breaks one of `rules`, in file and line order."""
    found = []
    for path in python_files(root, packages):
        importer = module_name(root, path)
        applying = [rule for rule in rules if any(within(importer, p) for p in rule.importers)]
        if not applying:
            continue
        for line, names in imports_of(root, path):
            for rule in applying:
                hits = [
                    name
                    for name in names
                    for prefix in rule.forbidden
                    if within(name, prefix)
                    and not any(
                        within(importer, allowed_importer) and within(name, allowed_prefix)
                        for allowed_importer, allowed_prefix in rule.allowed
                    )
                ]
                if hits:
                    shown = min(hits, key=len)  # `from a.b import c` shows a.b when a.b is forbidden
                    found.append(
                        Violation(path.relative_to(root).as_posix(), line, importer, shown, rule.name)
                    )
    return found


# -- the checker, on a synthetic tree ---------------------------------------------------------


def write(root: Path, files: Mapping[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


SYNTHETIC_RULES = (
    Rule("hub-never-imports-studio", ("hub",), ("studio",)),
    Rule(
        "ui-reaches-no-engine",
        ("studio.ui",),
        ("studio.pipeline", "torch"),
        allowed={("studio.ui.preview", "studio.pipeline.infotext"): "a pure text parser"},
    ),
)

CLEAN_TREE = {
    "studio/__init__.py": "",
    "studio/pipeline/__init__.py": "",
    "studio/pipeline/engine.py": "import torch\nfrom studio.jobs import queue\n",
    "studio/pipeline/infotext.py": "",
    "studio/ui/__init__.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import studio.pipeline\n",
    "studio/ui/preview.py": "from studio.pipeline.infotext import parse\n",
    "studio/ui/page.py": "from . import preview\nfrom studio import jobs\nimport gradio\n",
    "hub/__init__.py": "",
    "hub/cli.py": "import importlib\nimport sqlitedb\n\ndef main():\n    importlib.import_module('hub.sync')\n",
}


def test_the_checker_passes_a_clean_tree(tmp_path: Path) -> None:
    write(tmp_path, CLEAN_TREE)
    assert check(tmp_path, SYNTHETIC_RULES) == []


def test_the_checker_reports_each_violation_with_file_and_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            **CLEAN_TREE,
            "hub/cli.py": (
                "import importlib\n\n"
                "def main():\n"
                "    from studio.config import load_config  # lazy: still a dependency\n"
                "    importlib.import_module('studio.app')\n"
            ),
            "studio/ui/page.py": (
                "from typing import TYPE_CHECKING\n"
                "from ..pipeline import engine\n"
                "if TYPE_CHECKING:\n"
                "    import torch\n"
                "else:\n"
                "    import torch\n"
                "from studio import pipeline\n"
            ),
            "studio/ui/preview.py": "from studio.pipeline.infotext import parse\nimport studio.pipeline.engine\n",
        },
    )
    found = [str(violation) for violation in check(tmp_path, SYNTHETIC_RULES)]
    assert found == [
        "hub/cli.py:4: hub.cli imports studio.config (hub-never-imports-studio)",
        "hub/cli.py:5: hub.cli imports studio.app (hub-never-imports-studio)",
        "studio/ui/page.py:2: studio.ui.page imports studio.pipeline (ui-reaches-no-engine)",
        "studio/ui/page.py:6: studio.ui.page imports torch (ui-reaches-no-engine)",
        "studio/ui/page.py:7: studio.ui.page imports studio.pipeline (ui-reaches-no-engine)",
        "studio/ui/preview.py:2: studio.ui.preview imports studio.pipeline.engine (ui-reaches-no-engine)",
    ]


# -- the rules, on the real tree ----------------------------------------------------------------


def test_every_package_is_read() -> None:
    files = python_files(ROOT)
    assert {path.relative_to(ROOT).parts[0] for path in files} == set(PACKAGES)
    assert len(files) > 100


@pytest.mark.parametrize(
    "rule",
    [pytest.param(rule, id=rule.name) for rule in RULES],
)
def test_layer_rule(rule: Rule) -> None:
    violations = check(ROOT, (rule,))
    assert not violations, "\n".join(str(violation) for violation in violations)
