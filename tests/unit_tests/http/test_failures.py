"""Pins of how a failed attempt becomes a typed error, over real sockets.

A transport failure keeps the library's error as its cause (without frames); an error
response's body is decoded, capped and read no further than needed; a 2xx body that
is not a JSON object is named; and whatever a stream's parser raises leaves scrubbed.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from langchain_nebula._http.client import NebulaClient
from langchain_nebula._http.libraries import LIBRARIES
from langchain_nebula.errors import (
    NebulaConnectionError,
    NebulaError,
)
from tests.scripted_server import Reply, ScriptedServer, sse
from tests.unit_tests.http.scripted_calls import Parsers, Run, both, nebula

JSON = {"Content-Type": "application/json"}


def get(client: NebulaClient, sync: bool) -> dict[str, Any]:
    """``get_json``, or ``aget_json`` run on a fresh loop."""
    if sync:
        return client.get_json("/models")[0]
    return asyncio.run(client.aget_json("/models"))[0]


def failure(client: NebulaClient, sync: bool) -> NebulaError:
    with pytest.raises(NebulaError) as caught:
        get(client, sync)
    return caught.value


calls = pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])


def _links(error: BaseException) -> Iterator[BaseException]:
    """Every error linked below ``error`` (causes and contexts), each once."""
    seen, todo = {id(error)}, [error]
    while todo:
        linked = todo.pop()
        for other in (linked.__cause__, linked.__context__):
            if other is not None and id(other) not in seen:
                seen.add(id(other))
                todo.append(other)
                yield other


# -- transport failures ---------------------------------------------------------------


@pytest.fixture
def refusing() -> Iterator[str]:
    """The base URL of a port with nothing listening: every connection is refused."""
    with socket.socket() as bound:  # bound, never listening: the port stays ours
        bound.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{bound.getsockname()[1]}/v1"


@calls
def test_a_refused_connection_keeps_the_library_error_as_its_cause(
    refusing: str, sync: bool
) -> None:
    error = failure(nebula(refusing), sync)
    assert type(error) is NebulaConnectionError
    assert error.message.startswith("could not reach the server (ConnectError: ")
    cause = error.__cause__
    assert type(cause) in tuple(library.ConnectError for library in LIBRARIES)
    assert error.__context__ is None
    assert error.__suppress_context__
    assert [link.__traceback__ for link in _links(error)] == [None] * len(list(_links(error)))


@both
def test_a_refused_stream_keeps_the_library_error_as_its_cause(refusing: str, run: Run) -> None:
    items, error = run(nebula(refusing), Parsers(), None)
    assert items == []
    assert type(error) is NebulaConnectionError
    assert type(error.__cause__).__name__ == "ConnectError"
    assert all(link.__traceback__ is None for link in _links(error))


@calls
def test_a_body_cut_short_is_a_connection_error_caused_by_the_library_error(
    server: ScriptedServer, sync: bool
) -> None:
    server.replies.append(Reply(200, JSON, pieces=[b'{"data": ', b"[1, 2]}"], cut_after=1))
    error = failure(nebula(server.base_url), sync)
    assert type(error) is NebulaConnectionError
    assert error.message.startswith("server closed the connection: peer closed connection")
    assert type(error.__cause__).__name__ == "RemoteProtocolError"
    assert not error.unsent


@both
def test_a_stream_cut_after_an_item_keeps_its_cause(server: ScriptedServer, run: Run) -> None:
    server.reply_stream(sse("a", "b"), cut_after=1)
    items, error = run(nebula(server.base_url), Parsers(), None)
    assert items == ["a"]
    assert type(error) is NebulaConnectionError
    assert type(error.__cause__).__name__ == "RemoteProtocolError"
    assert error.__context__ is None
