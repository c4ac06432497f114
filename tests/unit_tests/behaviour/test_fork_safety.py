"""A forked child never uses its parent's connections (gunicorn --preload, Celery prefork).

The parent makes a call, so a keep-alive connection sits in the pool, then forks. Each
child asks a question whose answer names it and must get its own answer, over a
connection of its own: the scripted server records the client address of each request,
one per connection.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection

import httpx
import pytest

from langchain_nebula import ChatNebula
from tests.scripted_server import ScriptedServer, generic_reply

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no fork on Windows")

CHILDREN = 4


def _in_children(work: Callable[[int], str], *, together: bool = True) -> list[str]:
    """Runs ``work(n)`` in CHILDREN forked processes; returns what each said.

    ``together`` starts them all before hearing any; otherwise each is heard before
    the next starts.
    """
    context = multiprocessing.get_context("fork")
    pipes: list[Connection] = []
    processes = []
    said: list[str] = []
    for number in range(CHILDREN):
        receiving, sending = context.Pipe(duplex=False)

        def child(number: int = number, sending: Connection = sending) -> None:
            try:
                sending.send(work(number))
            except BaseException as error:  # reported to the parent
                sending.send(f"{type(error).__name__}: {error}")

        process = context.Process(target=child)
        process.start()
        processes.append(process)
        pipes.append(receiving)
        if not together:
            said.append(_heard(pipes.pop()))
    said += [_heard(pipe) for pipe in pipes]
    for process in processes:
        process.join(30)
    return said


def _heard(pipe: Connection) -> str:
    # A child stuck on a connection it shares with another process never answers.
    return str(pipe.recv()) if pipe.poll(30) else "no answer within 30 s"


def test_forked_children_get_their_own_answers_over_their_own_connections(
    server: ScriptedServer,
) -> None:
    server.default = generic_reply
    model = ChatNebula(base_url=server.base_url, api_key="ak_fork-test-key-0123456789")
    assert model.invoke("parent").content == "You said: parent"
    parent_peer = server.requests[0].peer

    said = _in_children(lambda n: str(model.invoke(f"child {n}").content))

    assert said == [f"You said: child {n}" for n in range(CHILDREN)]
    child_peers = [request.peer for request in server.requests[1:]]
    assert parent_peer not in child_peers
    assert len(set(child_peers)) == CHILDREN
    # The parent's own connection still works, and is still its own.
    assert model.invoke("parent again").content == "You said: parent again"


def test_forked_children_of_a_live_event_loop_get_their_own_connections(
    server: ScriptedServer,
) -> None:
    server.default = generic_reply
    model = ChatNebula(base_url=server.base_url, api_key="ak_fork-test-key-0123456789")
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(model.ainvoke("parent")).content == "You said: parent"
        parent_peer = server.requests[0].peer

        def work(n: int) -> str:
            return str(loop.run_until_complete(model.ainvoke(f"child {n}")).content)

        # One at a time: a child running the parent's loop shares its epoll instance.
        said = _in_children(work, together=False)
    finally:
        loop.close()
    assert said == [f"You said: child {n}" for n in range(CHILDREN)]
    assert parent_peer not in [request.peer for request in server.requests[1:]]


def test_a_client_you_passed_with_open_connections_is_refused_in_a_child(
    server: ScriptedServer,
) -> None:
    server.default = generic_reply
    with httpx.Client() as client:
        model = ChatNebula(base_url=server.base_url, api_key=None, http_client=client)
        model.invoke("parent")
        said = _in_children(lambda n: str(model.invoke(f"child {n}").content))
    assert all(line.startswith("RuntimeError: this process was forked") for line in said)
    assert len(server.requests) == 1  # no child wrote on the parent's connection


def test_a_client_you_passed_unused_works_in_a_child(server: ScriptedServer) -> None:
    server.default = generic_reply
    with httpx.Client() as client:
        model = ChatNebula(base_url=server.base_url, api_key=None, http_client=client)
        said = _in_children(lambda n: str(model.invoke(f"child {n}").content))
    assert said == [f"You said: child {n}" for n in range(CHILDREN)]
