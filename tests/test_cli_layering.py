"""The CLI is a thin face: it parses, calls the pipeline, prints and maps errors to exit codes.

So every module of `auditor/cli` may import only the conductor (`auditor.pipeline`), the
configuration (`auditor.config`), the errors (`auditor.errors`), its own modules and the
version. The settings precedence rule (`auditor.settings`) is reached through the pipeline, not
imported: the CLI hands the options it parsed to a pipeline function. A stage, `auditor.models`
or any other ground-floor module is a step the pipeline takes, not the CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import auditor.cli

CLI = Path(auditor.cli.__file__).parent
ALLOWED = ("auditor.pipeline", "auditor.config", "auditor.errors", "auditor.cli")
ALLOWED_FROM_AUDITOR = {"pipeline", "config", "errors", "__version__"}


def auditor_imports(source: str, filename: str) -> list[tuple[int, str]]:
    """(line, what) for every import of an auditor module in the source, at any depth (function
    bodies and TYPE_CHECKING blocks included)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "auditor"
            ]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: `from . import x` is auditor.cli.x
                found += [(node.lineno, f"auditor.cli.{node.module or a.name}") for a in node.names]
            elif node.module == "auditor":
                found += [(node.lineno, f"auditor.{a.name}") for a in node.names]
            elif node.module and node.module.split(".")[0] == "auditor":
                found.append((node.lineno, node.module))
    return found


def forbidden(source: str, filename: str) -> list[str]:
    problems = []
    for line, name in auditor_imports(source, filename):
        head = name.split(".")
        allowed = any(name == a or name.startswith(a + ".") for a in ALLOWED) or (
            len(head) == 2 and head[1] in ALLOWED_FROM_AUDITOR
        )
        if not allowed:
            problems.append(f"{filename}:{line}: imports {name}")
    return problems


def test_cli_imports_only_pipeline_config_and_errors() -> None:
    modules = sorted(CLI.glob("*.py"))
    assert len(modules) > 5  # every command module is read, not an empty folder
    problems = [p for path in modules for p in forbidden(path.read_text("utf-8"), str(path))]
    assert problems == []


def test_the_check_sees_every_spelling_of_an_import() -> None:
    """The scan above would pass on a broken walker; here it must find each forbidden form."""
    source = (
        "import auditor.models\n"
        "from auditor import evaluate as e\n"
        "from auditor.evidence import open_store\n"
        "from auditor import settings\n"
        "def f():\n"
        "    from auditor.collect.aws_permissions import aws_permissions_policy\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from auditor.models import Finding\n"
        "from auditor import pipeline, config, errors, __version__\n"
        "from auditor.cli import main\n"
        "from auditor.config import Config\n"
        "import auditor.pipeline\n"
    )
    assert forbidden(source, "x.py") == [
        "x.py:1: imports auditor.models",
        "x.py:2: imports auditor.evaluate",
        "x.py:3: imports auditor.evidence",
        "x.py:4: imports auditor.settings",
        "x.py:6: imports auditor.collect.aws_permissions",
        "x.py:9: imports auditor.models",
    ]
