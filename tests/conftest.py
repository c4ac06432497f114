from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from langchain_nebula import ChatNebula
from tests.scripted_server import ScriptedServer

API_KEY = "ak_test-secret-key-0123456789"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer().start()
    yield scripted
    scripted.stop()


@pytest.fixture
def make_model(server: ScriptedServer) -> Callable[..., ChatNebula]:
    """Builds a ChatNebula aimed at the scripted server (fast retries unless asked)."""

    def make(**kwargs: Any) -> ChatNebula:
        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("max_retries", 0)
        return ChatNebula(base_url=server.base_url, **kwargs)

    return make


@pytest.fixture(autouse=True)
def _no_ambient_nebula_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests state their configuration; a developer's shell must not change them.
    monkeypatch.delenv("NEBULA_API_KEY", raising=False)
    monkeypatch.delenv("NEBULA_BASE_URL", raising=False)
    monkeypatch.delenv("NEBULA_CATALOG_URL", raising=False)
