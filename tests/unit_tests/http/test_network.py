"""The asyncio network backend under our pooled async clients (``_http/network``).

Driven over real sockets on 127.0.0.1: plain servers here for the socket-level
guarantees (timeouts, back-pressure, lost connections), and the scripted server, over
HTTPS too, for ChatNebula end to end.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme

from langchain_nebula import ChatNebula
from langchain_nebula._http.network import AsyncioNetwork, core
from langchain_nebula._http.pools import ClientConfig, async_client, environment_for_clients
from langchain_nebula.errors import NebulaConnectionError
from tests.conftest import API_KEY
from tests.scripted_server import ScriptedServer, completion, text_stream

MIB = 1024 * 1024


@pytest.fixture
def tcp_server() -> Iterator[Callable[[Callable[[socket.socket], None]], int]]:
    """Starts a one-connection TCP server running ``serve(connection)``; gives its port."""
    listeners: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def start(serve: Callable[[socket.socket], None]) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def run() -> None:
            try:
                connection, _ = listener.accept()
            except OSError:  # closed at teardown: the test ended before it was accepted
                return
            with connection:
                serve(connection)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)
        return int(listener.getsockname()[1])

    yield start
    for listener in listeners:
        listener.close()
    for thread in threads:
        thread.join(timeout=10)


async def _connect(port: int) -> core.AsyncNetworkStream:
    return await AsyncioNetwork().connect_tcp("127.0.0.1", port, timeout=5)


async def test_reads_return_what_arrived_then_nothing_at_the_end(tcp_server) -> None:
    port = tcp_server(lambda c: c.sendall(b"hello"))
    stream = await _connect(port)
    received = b""
    while piece := await stream.read(3, timeout=5):
        assert len(piece) <= 3
        received += piece
    assert received == b"hello"
    assert stream.get_extra_info("is_readable") is True  # what an idle closed socket says
    await stream.aclose()


async def test_an_idle_connection_the_server_closed_reads_as_readable_at_once(
    tcp_server,
) -> None:
    closed = threading.Event()

    def serve(connection: socket.socket) -> None:
        connection.shutdown(socket.SHUT_WR)
        closed.set()

    stream = await _connect(tcp_server(serve))
    # Blocking, on purpose: the event loop cannot run to see the end before we ask.
    assert closed.wait(10)
    assert stream.get_extra_info("is_readable") is True
    await stream.aclose()


async def test_an_idle_open_connection_is_not_readable(tcp_server) -> None:
    release = threading.Event()
    stream = await _connect(tcp_server(lambda c: release.wait(30)))
    assert stream.get_extra_info("is_readable") is False
    release.set()
    await stream.aclose()


async def test_a_shorter_read_timeout_after_a_longer_one_fires_on_time(tcp_server) -> None:
    release = threading.Event()

    def serve(connection: socket.socket) -> None:
        connection.sendall(b"x")
        release.wait(30)

    stream = await _connect(tcp_server(serve))
    assert await stream.read(10, timeout=30) == b"x"  # sets the connection's timer 30 s out
    started = time.monotonic()
    with pytest.raises(core.ReadTimeout):
        await stream.read(10, timeout=0.2)
    assert time.monotonic() - started < 5
    release.set()
    await stream.aclose()


async def test_a_timer_left_by_an_earlier_read_does_not_end_a_later_one(tcp_server) -> None:
    go = threading.Event()

    def serve(connection: socket.socket) -> None:
        connection.sendall(b"first")
        go.wait(30)
        connection.sendall(b"second")

    stream = await _connect(tcp_server(serve))
    assert await stream.read(10, timeout=0.2) == b"first"  # leaves a timer 0.2 s out

    async def answer_later() -> None:
        await asyncio.sleep(0.5)  # the time passing is what is tested: past that timer
        go.set()

    later = asyncio.create_task(answer_later())
    assert await stream.read(10, timeout=10) == b"second"
    await later
    await stream.aclose()


async def test_an_unread_flood_stops_the_socket_being_read(tcp_server) -> None:
    # Without back-pressure the client would buffer all 64 MiB while the test waits.
    sent = 0
    blocked = threading.Event()

    def serve(connection: socket.socket) -> None:
        nonlocal sent
        connection.settimeout(1.0)
        piece = b"a" * MIB
        try:
            while sent < 64 * MIB:
                connection.sendall(piece)
                sent += len(piece)
        except TimeoutError:
            blocked.set()

    stream = await _connect(tcp_server(serve))
    assert await stream.read(1024, timeout=5)
    assert await asyncio.to_thread(blocked.wait, 60), "the server was never held back"
    assert sent < 64 * MIB
    await stream.aclose()


async def test_a_write_the_server_never_reads_times_out(tcp_server) -> None:
    done = threading.Event()
    stream = await _connect(tcp_server(lambda c: done.wait(30)))
    with pytest.raises(core.WriteTimeout):
        await stream.write(b"a" * 64 * MIB, timeout=0.5)
    done.set()
    await stream.aclose()


async def test_a_reset_connection_is_a_read_error_not_an_end(tcp_server) -> None:
    def serve(connection: socket.socket) -> None:
        connection.recv(10)
        # SO_LINGER 0: close sends a reset instead of an orderly end.
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    stream = await _connect(tcp_server(serve))
    await stream.write(b"ping", timeout=5)

    async def read_to_the_end() -> None:
        for _ in range(100):
            assert await stream.read(10, timeout=5) != b"", "a reset read as a clean end"

    with pytest.raises(core.ReadError):
        await read_to_the_end()
    await stream.aclose()


async def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
    with pytest.raises(core.ConnectError):
        await _connect(port)


async def test_our_pooled_async_clients_read_through_asyncio_protocols() -> None:
    client = async_client(ClientConfig((5.0, 5.0, 5.0, 5.0), 10, environment_for_clients()))
    # httpx keeps its transport and pool private; this pin is what keeps the wiring.
    pool = client._transport._pool  # type: ignore[union-attr]
    assert isinstance(pool._network_backend, AsyncioNetwork)
    assert pool._max_connections == 10


# -- end to end, over HTTPS -----------------------------------------------------------


@pytest.fixture
def https_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedServer]:
    authority = trustme.CA()
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("127.0.0.1").configure_cert(tls)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", os.fspath(ca_file))  # read as httpx reads it
    scripted = ScriptedServer(tls=tls).start()
    yield scripted
    scripted.stop()


async def test_chatnebula_streams_and_invokes_over_https(https_server: ScriptedServer) -> None:
    https_server.reply_stream(text_stream("Hel", "lo"))
    https_server.reply_json(completion("again"))
    model = ChatNebula(base_url=https_server.base_url, api_key=API_KEY, max_retries=0)
    assert model.base_url.startswith("https://")
    assert "".join([str(c.content) async for c in model.astream("hi")]) == "Hello"
    assert (await model.ainvoke("hi")).content == "again"
    assert https_server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


async def test_a_certificate_nobody_vouches_for_is_refused(
    https_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")
    model = ChatNebula(base_url=https_server.base_url, api_key=API_KEY, max_retries=0)
    with pytest.raises(NebulaConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        await model.ainvoke("hi")
    assert https_server.requests == []
