"""Pins of ``NebulaClient`` with a client the user passed, in a process forked after.

The real fork is tests/unit_tests/behaviour/test_fork_safety.py; mutation testing
only sees code run in the test's own process, so here the process id changes instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import httpx
import pytest

from langchain_nebula._http.client import NebulaClient
from tests.scripted_server import ScriptedServer
from tests.unit_tests.http.scripted_calls import nebula

FORKED = (
    "this process was forked from the one that opened the 1 connection(s) of the http "
    "client you passed: both would read each other's answers. Make the client in each "
    "process after it starts (e.g. gunicorn's post_fork, Celery's worker_process_init), "
    "or let ChatNebula pool its own (reset in each process)"
)
UNINSPECTABLE = (
    "This process was forked after your http client was made, and its connections "
    "cannot be inspected: if it had any open, make the client in each process instead"
)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def _forked(monkeypatch: pytest.MonkeyPatch) -> None:
    child = os.getpid() + 1
    monkeypatch.setattr(os, "getpid", lambda: child)


class _Opaque(httpx.BaseTransport):
    """A transport over real sockets whose connections cannot be counted."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_a_passed_client_holding_a_connection_is_refused_after_a_fork(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.reply_json({"parent": True})
    with httpx.Client() as passed:
        client = nebula(server.base_url, http_client=passed)
        assert client.get_json("/models")[0] == {"parent": True}
        _forked(monkeypatch)
        for _ in range(2):  # refused every time, not only the first
            with pytest.raises(RuntimeError) as caught:
                client.get_json("/models")
            assert str(caught.value) == FORKED
    assert len(server.requests) == 1


def test_a_passed_async_client_holding_a_connection_is_refused_after_a_fork(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.reply_json({"parent": True})

    async def scenario() -> None:
        async with httpx.AsyncClient() as passed:
            client = nebula(server.base_url, http_async_client=passed)
            assert (await client.aget_json("/models"))[0] == {"parent": True}
            _forked(monkeypatch)
            with pytest.raises(RuntimeError) as caught:
                await client.aget_json("/models")
            assert str(caught.value) == FORKED

    asyncio.run(scenario())
    assert len(server.requests) == 1


def test_passed_clients_without_connections_work_after_a_fork(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server.reply_json({"sync": True})
    server.reply_json({"async": True})

    async def scenario(client: NebulaClient) -> dict[str, Any]:
        return (await client.aget_json("/models"))[0]

    with (
        httpx.Client() as passed,
        caplog.at_level(logging.WARNING, logger="langchain_nebula"),
    ):
        passed_async = httpx.AsyncClient()
        client = nebula(server.base_url, http_client=passed, http_async_client=passed_async)
        _forked(monkeypatch)
        assert client.get_json("/models")[0] == {"sync": True}
        assert asyncio.run(scenario(client)) == {"async": True}
    assert _warnings(caplog) == []
    assert len(server.requests) == 2


def test_a_passed_client_that_cannot_be_inspected_is_used_with_one_warning(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server.reply_json({"parent": True})
    server.reply_json({"child": 1})
    server.reply_json({"child": 2})
    with (
        httpx.Client(transport=_Opaque()) as passed,
        caplog.at_level(logging.WARNING, logger="langchain_nebula"),
    ):
        client = nebula(server.base_url, http_client=passed)
        assert client.get_json("/models")[0] == {"parent": True}
        _forked(monkeypatch)
        assert client.get_json("/models")[0] == {"child": 1}
        assert client.get_json("/models")[0] == {"child": 2}  # this process's now
    assert _warnings(caplog) == [UNINSPECTABLE]


def test_without_a_fork_a_passed_client_is_used_as_it_is(server: ScriptedServer) -> None:
    for number in range(3):
        server.reply_json({"n": number})
    with httpx.Client() as passed:
        client = nebula(server.base_url, http_client=passed)
        assert [client.get_json("/m")[0]["n"] for _ in range(3)] == [0, 1, 2]
    assert len({r.peer for r in server.requests}) == 1  # one kept-alive connection
