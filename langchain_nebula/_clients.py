"""Pooled httpx clients: one per configuration per process (sync), per event loop (async).

Creating many model instances is cheap: instances with the same timeout share a
client. Async clients hold connections bound to the loop that opened them, so each
loop has its own, closed when the loop shuts down.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from collections.abc import AsyncGenerator
from dataclasses import dataclass

import httpx

from langchain_nebula._exceptions import NebulaTimeoutError

__all__ = ["AsyncPool", "ClientConfig", "async_pool", "sync_client"]


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """What distinguishes one pooled client from another (never the API key)."""

    timeout: tuple[float | None, float | None, float | None, float | None]
    """(connect, read, write, pool) seconds; httpx.Timeout itself is not hashable."""
    max_connections: int = 100

    @classmethod
    def build(cls, timeout: httpx.Timeout) -> ClientConfig:
        """Config for a client with ``timeout``."""
        return cls(timeout=(timeout.connect, timeout.read, timeout.write, timeout.pool))

    @property
    def httpx_timeout(self) -> httpx.Timeout:
        """The timeout as httpx takes it."""
        connect, read, write, pool = self.timeout
        return httpx.Timeout(connect=connect, read=read, write=write, pool=pool)


_sync_clients: dict[ClientConfig, httpx.Client] = {}
_clients_lock = threading.Lock()


def _limits(config: ClientConfig) -> httpx.Limits:
    # Keep as many idle connections as active ones, so a batch does not reconnect.
    return httpx.Limits(
        max_connections=config.max_connections,
        max_keepalive_connections=config.max_connections,
    )


@atexit.register
def _close_sync_clients() -> None:
    with _clients_lock:
        for client in _sync_clients.values():
            client.close()
        _sync_clients.clear()


def sync_client(config: ClientConfig) -> httpx.Client:
    """Returns the process-wide sync client for ``config`` (thread-safe, pooled)."""
    client = _sync_clients.get(config)
    if client is None:
        with _clients_lock:
            client = _sync_clients.get(config)
            if client is None:
                client = httpx.Client(timeout=config.httpx_timeout, limits=_limits(config))
                _sync_clients[config] = client
    return client


class AsyncPool:
    """An async client, and the slots that keep excess requests out of its pool.

    httpcore's pool rescans its whole wait queue on every connection release, so 1000
    concurrent requests on 100 connections cost twice as much as queueing the excess on
    a semaphore first (measured: 15.2 s vs 7.2 s for 1000 calls). ``slots`` is ``None``
    for a client the user passed in, whose limits are the user's. Entering the pool
    (``async with pool``) takes a slot for one attempt, waiting at most the pool timeout.
    """

    __slots__ = ("client", "pool_timeout", "slots")

    def __init__(
        self,
        client: httpx.AsyncClient,
        slots: asyncio.Semaphore | None = None,
        pool_timeout: float | None = None,
    ) -> None:
        self.client = client
        self.slots = slots
        self.pool_timeout = pool_timeout

    async def __aenter__(self) -> None:
        slots = self.slots
        if slots is None:
            return
        if not slots.locked():
            await slots.acquire()  # returns at once: a slot is free
            return
        try:
            await asyncio.wait_for(slots.acquire(), self.pool_timeout)
        except asyncio.TimeoutError:
            msg = f"no connection became free within the pool timeout ({self.pool_timeout:g} s)"
            raise NebulaTimeoutError(msg) from None

    async def __aexit__(self, *exc_info: object) -> None:
        if self.slots is not None:
            self.slots.release()


class _LoopPools:
    """The pools of one event loop, closed when the loop shuts down."""

    __slots__ = ("closer", "pools")

    def __init__(self) -> None:
        self.pools: dict[ClientConfig, AsyncPool] = {}
        self.closer: AsyncGenerator[None, None] | None = None


# Kept on the loop itself, so a loop nobody references any more is freed with its
# pools (and their sockets); a registry here would keep every unclosed loop alive.
_LOOP_ATTRIBUTE = "_langchain_nebula_pools"
# Loops that take no attributes (uvloop's) are held here until they are closed.
_detached: dict[asyncio.AbstractEventLoop, _LoopPools] = {}


def async_pool(config: ClientConfig) -> AsyncPool:
    """Returns the async client (and its slots) for ``config`` on the running loop.

    An ``httpx.AsyncClient`` holds connections bound to the loop that opened them, so
    each loop gets its own. They are closed when the loop shuts down its async
    generators (``asyncio.run`` does), and freed with the loop otherwise.
    """
    loop = asyncio.get_running_loop()
    entry = getattr(loop, _LOOP_ATTRIBUTE, None) or _detached.get(loop) or _attach(loop)
    pool = entry.pools.get(config)
    if pool is None:
        client = httpx.AsyncClient(timeout=config.httpx_timeout, limits=_limits(config))
        slots = asyncio.Semaphore(config.max_connections)
        pool = entry.pools[config] = AsyncPool(client, slots, config.timeout[3])
    return pool


def _attach(loop: asyncio.AbstractEventLoop) -> _LoopPools:
    entry = _LoopPools()
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


async def _close_at_shutdown(entry: _LoopPools) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        pools = list(entry.pools.values())
        entry.pools.clear()
        for pool in pools:
            await pool.client.aclose()
