"""The documented calls type-check for users: pyright and mypy --strict, no plugins."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import AliasChoices

from langchain_nebula import ChatNebula, NebulaEmbeddings

ROOT = Path(__file__).resolve().parents[3]
CALLS = ROOT / "tests" / "typing" / "documented_calls.py"


def _type_checking_init(cls: type) -> list[str]:
    """The keyword names of the ``__init__`` a class declares for type checkers."""
    source = Path(sys.modules[cls.__module__].__file__ or "").read_text()
    tree = ast.parse(source)
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    for statement in node.body:
        if isinstance(statement, ast.If) and ast.unparse(statement.test) == "TYPE_CHECKING":
            init = next(
                f for f in statement.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"
            )
            return [arg.arg for arg in init.args.kwonlyargs]
    raise AssertionError(f"{cls.__name__} declares no __init__ for type checkers")


@pytest.mark.parametrize("cls", [ChatNebula, NebulaEmbeddings], ids=lambda c: c.__name__)
def test_the_declared_signature_lists_every_field_and_legacy_name(cls: type) -> None:
    names: set[str] = set()
    for name, info in cls.model_fields.items():  # type: ignore[attr-defined]
        names.add(name)
        if isinstance(info.validation_alias, AliasChoices):
            names.update(str(choice) for choice in info.validation_alias.choices)
    declared = _type_checking_init(cls)
    assert len(declared) == len(set(declared))
    assert set(declared) == names


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_documented_calls_pass_mypy_strict_without_plugins() -> None:
    result = _run(sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(CALLS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_documented_calls_pass_pyright() -> None:
    result = _run(sys.executable, "-m", "pyright", "--pythonpath", sys.executable, str(CALLS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors" in result.stdout
