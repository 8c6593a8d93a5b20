"""The package's layering, checked by import-linter against the contracts in pyproject.toml: rooms
import downwards only (cli and api on top; faces and classify at the bottom), serving code never
imports fer.train, the engine never imports Streamlit, and no two sibling modules or rooms import
each other, however indirectly."""
from __future__ import annotations

from importlinter.cli import lint_imports

from fer.config import REPO_ROOT


def test_import_contracts_hold(capsys, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # where pyproject.toml is; no cache written (no_cache)
    code = lint_imports(config_filename=str(REPO_ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "0 broken" in out and "Contracts: 4 kept" in out, out

