"""Every Python block in README.md and docs/ runs, in order, against a loopback server.

Blocks fenced ```` ```python ray ```` need a Ray cluster: they must be quoted word for word
from examples/ray/label_and_embed.py, which the Ray tier (``make test-ray``) runs.

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

ROOT = Path(__file__).resolve().parents[3]
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
                # dont_inherit: run as a reader runs it, not under this file's
                # `from __future__ import annotations` (Pydantic models would break).
                code = compile(block, f"{page.name}[block {number}]", "exec", dont_inherit=True)
                exec(code, namespace)
        except Exception as error:
            pytest.fail(f"{page.name} block {number} raised {error!r}\n---\n{block}")
    assert server.requests, f"{page.name}'s examples sent no request"


def _field_table(page: Path, heading: str) -> dict[str, list[str]]:
    """Field name → its legacy spellings, from a page's fields table under ``heading``."""
    text = page.read_text()
    table = text[text.index(heading) :].split("\n\n", 2)[2]
    rows: dict[str, list[str]] = {}
    for line in table.splitlines():
        if not line.startswith("|"):
            break
        if not line.startswith("| `"):  # the header and its rule
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = re.findall(r"`([^`]+)`", cells[-1])
    return rows


def test_every_constructor_field_is_documented_and_every_documented_one_exists() -> None:
    from pydantic import AliasChoices

    from langchain_nebula import ChatNebula

    documented = _field_table(ROOT / "docs" / "chat.md", "### Constructor fields")
    fields = ChatNebula.model_fields
    assert sorted(documented) == sorted(fields)
    for name, legacy in documented.items():
        alias = fields[name].validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [name]
        assert sorted([name, *legacy]) == sorted(str(c) for c in choices), name


def test_the_models_table_states_what_the_profiles_say() -> None:
    from langchain_nebula import ChatNebula

    text = (ROOT / "docs" / "models.md").read_text()
    rows = re.findall(
        r"^\| `([^`]+)`[^|]*\| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|", text, re.M
    )
    assert len(rows) == 10
    for model_id, context, output, vision, reasoning in rows:
        profile = ChatNebula(model=model_id, api_key=None).profile or {}

        def shown(key: str, profile: dict = profile) -> str:
            value = profile.get(key)
            return "unknown" if value is None else str(value)

        assert context.strip() == shown("max_input_tokens"), model_id
        assert output.strip() == shown("max_output_tokens"), model_id
        assert vision.strip().strip("*") == ("yes" if profile["image_inputs"] else "no"), model_id
        assert reasoning.strip().startswith("yes" if profile["reasoning_output"] else "no"), (
            model_id
        )


REPO_LINK = re.compile(
    r"https://github\.com/langchain-nebula/langchain-nebula/(?:blob|tree)/main/([^)\s\"'#>]+)"
)


@pytest.mark.parametrize(
    "source",
    [ROOT / "pyproject.toml", *PAGES, *sorted((ROOT / "examples").glob("*.md"))],
    ids=lambda p: p.name,
)
def test_every_link_into_the_repository_names_a_file_that_exists(source: Path) -> None:
    # Absolute links are what a package index shows; a missing target is a dead link there.
    missing = [path for path in REPO_LINK.findall(source.read_text()) if not (ROOT / path).exists()]
    assert missing == []


RAY_BLOCK = re.compile(r"^```python ray\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_every_ray_block_is_taken_word_for_word_from_the_ray_example() -> None:
    # Ray blocks need a cluster: the Ray tier (make test-ray) runs the script they quote.
    script = (ROOT / "examples" / "ray" / "label_and_embed.py").read_text()
    blocks = [b for page in PAGES for b in RAY_BLOCK.findall(page.read_text())]
    assert len(blocks) >= 3
    assert [block for block in blocks if block not in script] == []
