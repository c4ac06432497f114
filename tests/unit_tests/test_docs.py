"""Every Python block in README.md and docs/ runs, in order, against a loopback server.

Blocks of one page share a namespace, like cells of a notebook. The server answers like
a model (tool calls, JSON per schema, echoes) via ``generic_reply``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import re
from pathlib import Path

import pytest

from tests.scripted_server import ScriptedServer, generic_reply

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
# A 1x1 PNG: the docs read "photo.png" to show sending a local file.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def python_blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text())


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_python_block_runs(
    page: Path, server: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = python_blocks(page)
    if not blocks:
        pytest.skip(f"{page.name} has no Python blocks")
    server.default = generic_reply
    monkeypatch.setenv("NEBULA_API_KEY", "ak_docs-test-key")
    monkeypatch.setenv("NEBULA_BASE_URL", server.base_url)
    monkeypatch.setenv("NEBULA_CATALOG_URL", f"{server.base_url}/serverless/models")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photo.png").write_bytes(PIXEL)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for number, block in enumerate(blocks, 1):
        output = io.StringIO()
        try:
            with contextlib.redirect_stdout(output):
                exec(compile(block, f"{page.name}[block {number}]", "exec"), namespace)
        except Exception as error:
            pytest.fail(f"{page.name} block {number} raised {error!r}\n---\n{block}")
    assert server.requests, f"{page.name}'s examples sent no request"
