"""Every script in examples/ runs to completion against a loopback server."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

from tests.scripted_server import ScriptedServer, generic_reply

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(
    script: Path,
    server: ScriptedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.default = generic_reply
    monkeypatch.setenv("NEBULA_API_KEY", "ak_examples-test-key")
    monkeypatch.setenv("NEBULA_BASE_URL", server.base_url)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(script)])
    runpy.run_path(str(script), run_name="__main__")
    assert capsys.readouterr().out.strip(), f"{script.name} printed nothing"
    assert server.requests, f"{script.name} sent no request"


def test_there_is_an_example_per_topic() -> None:
    assert len(EXAMPLES) >= 10
