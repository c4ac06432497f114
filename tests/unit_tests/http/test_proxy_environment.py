"""Proxy variables are honoured as httpx honours them for a fresh client.

They are read when a model's connection is configured (construction, or a changed
setting), not once per process: a model made after ``HTTP_PROXY`` or ``NO_PROXY``
changes uses them, even though an earlier model already pooled a client.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from langchain_nebula import ChatNebula
from tests.conftest import API_KEY
from tests.scripted_server import ScriptedServer, generic_reply


@pytest.fixture
def proxy() -> Iterator[ScriptedServer]:
    # A forward proxy receives the absolute URL as the request target; answering it
    # itself is enough to show the request went through it.
    scripted = ScriptedServer().start()
    scripted.default = generic_reply
    yield scripted
    scripted.stop()


@pytest.fixture
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.mark.usefixtures("no_proxy_environment")
def test_proxy_variables_set_later_are_honoured_by_models_made_later(
    server: ScriptedServer, proxy: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.default = generic_reply
    assert ChatNebula(base_url=server.base_url, api_key=API_KEY).invoke("direct").content

    monkeypatch.setenv("HTTP_PROXY", proxy.base_url.removesuffix("/v1"))
    assert ChatNebula(base_url=server.base_url, api_key=API_KEY).invoke("proxied").content
    assert [r.path for r in proxy.requests] == [f"{server.base_url}/chat/completions"]

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert ChatNebula(base_url=server.base_url, api_key=API_KEY).invoke("direct again").content
    assert len(proxy.requests) == 1
    assert len(server.requests) == 2
