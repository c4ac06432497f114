from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_ambient_nebula_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests state their configuration; a developer's shell must not change them.
    monkeypatch.delenv("NEBULA_API_KEY", raising=False)
    monkeypatch.delenv("NEBULA_BASE_URL", raising=False)
    monkeypatch.delenv("NEBULA_CATALOG_URL", raising=False)
