from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from langchain_nebula import ChatNebula
from tests.scripted_server import ScriptedServer

API_KEY = "ak_test-secret-key-0123456789"

# The Ray tier needs the `ray` dependency group, which only `make test-ray` installs
# (into .venv-ray). Named explicitly without Ray, tests/ray_tests fails on its imports.
collect_ignore = [] if importlib.util.find_spec("ray") else ["ray_tests"]


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
