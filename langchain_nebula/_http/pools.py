"""Pooled HTTP clients: one per configuration per process (sync), per event loop (async).

Creating many model instances is cheap: instances with the same timeout share a
client. Async clients hold connections bound to the loop that opened them, so each
loop has its own, closed when the loop shuts down. The clients are the default
library's (``_http``): httpx2, or httpx on Python 3.10.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from langchain_nebula._http.libraries import AsyncClient, SyncClient, http
from langchain_nebula._http.timeouts import Waits

__all__ = [
    "CALL_CONNECTIONS",
    "DEFAULT_MAX_CONNECTIONS",
    "ClientConfig",
    "async_client",
    "sync_client",
]

DEFAULT_MAX_CONNECTIONS = 1000
"""Streams: as many as openai's SDK allows. A stream holds its connection for the whole
reply, so a smaller pool makes the next user wait for a whole reply before a token."""
CALL_CONNECTIONS = 100
"""Short calls (invoke, embeddings, catalog): a pool of their own, this large at most. A
burst of 1000 calls through a pool of 1000 took 9.0 s against 1.8 s through 100
(``abatch`` on the canned server, one loop, 5 rounds): opening and tracking many
connections costs more than queueing for few."""


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """What distinguishes one pooled client from another (never the API key)."""

    timeout: Waits
    """(connect, read, write, pool) seconds; a Timeout object itself is not hashable."""
    max_connections: int = DEFAULT_MAX_CONNECTIONS


def _client_options(config: ClientConfig) -> dict[str, Any]:
    connect, read, write, pool = config.timeout
    return {
        "timeout": http.Timeout(connect=connect, read=read, write=write, pool=pool),
        # Keep as many idle connections as active ones, so a batch does not reconnect.
        "limits": http.Limits(
            max_connections=config.max_connections,
            max_keepalive_connections=config.max_connections,
        ),
    }


_sync_clients: dict[ClientConfig, SyncClient] = {}
_clients_lock = threading.Lock()


@atexit.register
def _close_sync_clients() -> None:
    with _clients_lock:
        for client in _sync_clients.values():
            client.close()
        _sync_clients.clear()


def sync_client(config: ClientConfig) -> SyncClient:
    """Returns the process-wide sync client for ``config`` (thread-safe, pooled)."""
    client = _sync_clients.get(config)
    if client is None:
        with _clients_lock:
            client = _sync_clients.get(config)
            if client is None:
                client = _sync_clients[config] = http.Client(**_client_options(config))
    return client


class _LoopClients:
    """The clients of one event loop, closed when the loop shuts down."""

    __slots__ = ("clients", "closer")

    def __init__(self) -> None:
        self.clients: dict[ClientConfig, AsyncClient] = {}
        self.closer: AsyncGenerator[None, None] | None = None


# Kept on the loop itself, so a loop nobody references any more is freed with its
# clients (and their sockets); a registry here would keep every unclosed loop alive.
_LOOP_ATTRIBUTE = "_langchain_nebula_clients"
# Loops that take no attributes (uvloop's) are held here until they are closed.
_detached: dict[asyncio.AbstractEventLoop, _LoopClients] = {}


def async_client(config: ClientConfig) -> AsyncClient:
    """Returns the async client for ``config`` on the running loop.

    Its connections are closed when the loop shuts down its async generators
    (``asyncio.run`` does), and freed with the loop otherwise.
    """
    loop = asyncio.get_running_loop()
    entry = getattr(loop, _LOOP_ATTRIBUTE, None) or _detached.get(loop) or _attach(loop)
    client = entry.clients.get(config)
    if client is None:
        client = entry.clients[config] = http.AsyncClient(**_client_options(config))
    return client


def _attach(loop: asyncio.AbstractEventLoop) -> _LoopClients:
    entry = _LoopClients()
    try:
        setattr(loop, _LOOP_ATTRIBUTE, entry)
    except AttributeError:
        with _clients_lock:
            for closed in [old for old in _detached if old.is_closed()]:
                del _detached[closed]
            entry = _detached.setdefault(loop, entry)
    if entry.closer is None:
        entry.closer = _close_at_shutdown(entry)
        # Advance it to its ``yield`` now: that registers it with the loop's async
        # generator hooks, so the loop's shutdown runs its ``finally``.
        with contextlib.suppress(StopIteration):
            entry.closer.asend(None).send(None)
    return entry


async def _close_at_shutdown(entry: _LoopClients) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        clients = list(entry.clients.values())
        entry.clients.clear()
        for client in clients:
            await client.aclose()
