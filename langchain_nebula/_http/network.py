"""Sockets for our pooled async clients: asyncio protocols under httpx's connection pool.

httpx's async pool reads through anyio by default, which wraps every read in a cancel
scope with a timer of its own. A chat backend with hundreds of streams open, each
receiving one token per read, pays that on every token: about a third of a paced
chunk's CPU (``benchmarks/paced_streams.py``). Here a read that finds bytes waiting
returns them at once, and a read that must wait awaits one future that the socket's
protocol resolves. Each connection keeps one lazy timer for the read timeout: a read
moves the connection's deadline forward, and the timer, when it fires early, sets
itself again for the deadline then in force. Timeouts stay exact; nothing is scheduled
per read.

Memory stays bounded: a connection stops reading from its socket while more than
``_HIGH_WATER`` bytes wait unread, and writes wait for the socket to drain.

Used by the async clients ``pools`` makes, for direct connections (proxies configured
in the environment keep httpx's own transports); a client you pass is used as is.
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
import sys
from collections.abc import Iterable
from typing import Any

from langchain_nebula._http.libraries import http

# The connection library under ``http`` (httpx2's or httpx's), imported here rather
# than with ``http``: only async clients need it, and only once they make a request.
if sys.version_info >= (3, 11):
    import httpcore2 as core
else:  # pragma: no cover - exercised by CI's Python 3.10 run
    import httpcore as core

__all__ = ["AsyncioNetwork", "async_transport"]

_HIGH_WATER = 256 * 1024
"""Unread bytes at which a connection stops reading its socket (resumed when read)."""


class _Connection(asyncio.Protocol):
    """One socket's receiving end: a buffer, and the one reader waiting on it."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.ended = False
        self.lost: BaseException | None = None
        self.reading_paused = False
        self.waiter: asyncio.Future[None] | None = None
        self.drain: asyncio.Future[None] | None = None
        self.writing_paused = False
        self.deadline = 0.0
        self.timer: asyncio.TimerHandle | None = None

    # -- the event loop's calls ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _HIGH_WATER and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]
        self._wake(self.waiter)

    def eof_received(self) -> bool:
        self.ended = True
        self._wake(self.waiter)
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.lost = exc
        self._wake(self.waiter)
        self._wake(self.drain)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake(self.drain)

    @staticmethod
    def _wake(waiter: asyncio.Future[None] | None) -> None:
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- waiting for bytes ---------------------------------------------------------------

    async def readable(self, timeout: float | None) -> None:
        """Returns once bytes are buffered or the connection ended.

        Raises:
            ReadTimeout: After ``timeout`` seconds with neither.
        """
        waiter = self.waiter = self.loop.create_future()
        if timeout is not None:
            self.deadline = self.loop.time() + timeout
            if self.timer is None:
                self.timer = self.loop.call_at(self.deadline, self._check_deadline)
            elif self.timer.when() > self.deadline:  # a shorter wait than the timer's
                self.timer.cancel()
                self.timer = self.loop.call_at(self.deadline, self._check_deadline)
        try:
            await waiter
        finally:
            self.waiter = None

    def _check_deadline(self) -> None:
        self.timer = None
        waiter = self.waiter
        if waiter is None or waiter.done():
            return  # no read waiting: the next one sets the timer again
        if self.loop.time() >= self.deadline:
            waiter.set_exception(core.ReadTimeout("timed out waiting for the server"))
        else:
            self.timer = self.loop.call_at(self.deadline, self._check_deadline)

    def take(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` of the buffered bytes, resuming the socket once drained."""
        buffer = self.buffer
        if len(buffer) <= max_bytes:
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:max_bytes])
            del buffer[:max_bytes]
        if self.reading_paused and len(buffer) <= _HIGH_WATER // 2 and not self.ended:
            self.reading_paused = False
            self.transport.resume_reading()  # type: ignore[union-attr]
        return data


class _Stream(core.AsyncNetworkStream):
    """httpx's view of one connection (``httpcore``'s network stream interface)."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        connection = self._connection
        if not connection.buffer:
            if not connection.ended:
                await connection.readable(timeout)
            if not connection.buffer:
                if connection.lost is not None:
                    raise core.ReadError(f"connection lost: {connection.lost}")
                return b""
        return connection.take(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        connection = self._connection
        transport = connection.transport
        if connection.ended or transport is None or transport.is_closing():
            raise core.WriteError("the connection is closed")
        transport.write(buffer)
        if connection.writing_paused:
            connection.drain = connection.loop.create_future()
            try:
                await asyncio.wait_for(connection.drain, timeout)
            except asyncio.TimeoutError:  # not the builtin one before Python 3.11
                raise core.WriteTimeout("timed out writing to the server") from None
            finally:
                connection.drain = None
            if connection.ended:
                raise core.WriteError("the connection was lost while writing")

    async def aclose(self) -> None:
        transport = self._connection.transport
        if transport is not None:
            transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> _Stream:
        connection = self._connection
        try:
            secured = await asyncio.wait_for(
                connection.loop.start_tls(
                    connection.transport,  # type: ignore[arg-type]
                    connection,
                    ssl_context,
                    server_hostname=server_hostname,
                ),
                timeout,
            )
        except asyncio.TimeoutError:  # not the builtin one before Python 3.11
            await self.aclose()
            raise core.ConnectTimeout("timed out in the TLS handshake") from None
        except (OSError, ssl.SSLError) as exc:
            await self.aclose()
            raise core.ConnectError(str(exc)) from exc
        connection.transport = secured
        return self

    def get_extra_info(self, info: str) -> Any:
        connection = self._connection
        if info == "is_readable":  # an idle connection the server closed, or wrote to
            return bool(connection.buffer) or connection.ended or _socket_readable(connection)
        name = _EXTRA_INFO.get(info)
        transport = connection.transport
        return None if name is None or transport is None else transport.get_extra_info(name)


def _socket_readable(connection: _Connection) -> bool:
    """Whether the socket has bytes (or its end) the event loop has not read yet.

    Asked before an idle connection is reused: the server may have closed it a moment
    ago, and the loop not yet run to see it.
    """
    transport = connection.transport
    raw = None if transport is None else transport.get_extra_info("socket")
    if raw is None:
        return False
    poller = select.poll()  # not select(): descriptors past 1024 are common here
    poller.register(raw.fileno(), select.POLLIN)
    return bool(poller.poll(0))


_EXTRA_INFO = {
    "ssl_object": "ssl_object",
    "client_addr": "sockname",
    "server_addr": "peername",
    "socket": "socket",
}


class AsyncioNetwork(core.AsyncNetworkBackend):
    """Opens TCP connections as asyncio protocols (``httpcore``'s backend interface)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> _Stream:
        loop = asyncio.get_running_loop()
        try:
            transport, connection = await asyncio.wait_for(
                loop.create_connection(
                    _Connection,
                    host,
                    port,
                    local_addr=None if local_address is None else (local_address, 0),
                    happy_eyeballs_delay=0.25,  # as anyio's connect_tcp (RFC 8305)
                ),
                timeout,
            )
        except asyncio.TimeoutError:  # not the builtin one before Python 3.11
            raise core.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except OSError as exc:
            raise core.ConnectError(str(exc)) from exc
        raw: socket.socket | None = transport.get_extra_info("socket")
        if raw is not None:
            for option in socket_options or ():
                raw.setsockopt(*option)
        return _Stream(connection)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def async_transport(max_connections: int) -> Any:
    """An async transport (``http``'s) for ``max_connections``, reading through asyncio."""
    limits = http.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    tls = http.create_ssl_context()  # loading the CA bundle takes milliseconds: once
    transport = http.AsyncHTTPTransport(verify=tls, limits=limits)
    # httpx builds its pool with anyio's backend and takes no other: the pool is made
    # again with ours, and the settings httpx's transport gives its own.
    transport._pool = core.AsyncConnectionPool(
        ssl_context=tls,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=AsyncioNetwork(),
    )
    return transport
