"""The package's layering, checked by import-linter against the contracts in pyproject.toml: rooms
import downwards only (cli and api on top; faces and classify at the bottom), serving code never
imports fer.train, the engine never imports Streamlit, and no two sibling modules or rooms import
each other, however indirectly."""
from __future__ import annotations

import subprocess
import sys

import pytest

from fer.config import REPO_ROOT

pytest.importorskip("importlinter", reason="import-linter is in requirements-test.txt")

#: lint-imports' own entry point, run in a fresh interpreter (it keeps a console bound to the
#: stdout it was imported under, which pytest's capturing closes between tests).
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def test_import_contracts_hold():
    out = subprocess.run([sys.executable, "-c", LINT, "--no-cache", "--config", "pyproject.toml"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Contracts: 4 kept, 0 broken." in out.stdout, out.stdout
