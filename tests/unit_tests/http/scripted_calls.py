"""Calls through ``NebulaClient`` to the scripted server, for the pins of the HTTP stack.

The stream parser here is the smallest ``EventParser``: each event's data is an item,
``[DONE]`` ends the stream, and ``hold:<text>`` is kept back undecided (as a reasoning
splitter keeps text) and handed out only if the stream fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import pytest
from pydantic import SecretStr

from langchain_nebula._http.client import NebulaClient
from langchain_nebula.errors import NebulaError, NebulaStreamError
from tests.conftest import API_KEY

AT_ONCE = {"Retry-After": "0"}  # a failure to retry without waiting
SSE = {"Content-Type": "text/event-stream"}
STALLED = "the stream produced no event for 0.05 s (stream_chunk_timeout); the server may be stuck"


def nebula(base_url: str, **settings: Any) -> NebulaClient:
    """A client as the settings build it: explicit key, no retries, pooled clients."""
    defaults: dict[str, Any] = {
        "api_key": SecretStr(API_KEY),
        "key_is_explicit": True,
        "timeout": None,
        "total_timeout": None,
        "max_retries": 0,
        "max_response_bytes": 1 << 20,
        "headers": None,
        "http_client": None,
        "http_async_client": None,
    }
    return NebulaClient(base_url=base_url, **{**defaults, **settings})


class Lines:
    """Items are the events' text; ``[DONE]`` ends; ``hold:`` text waits for the end."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = headers
        self.done = False
        self._held: str | None = None

    def feed(self, data: bytes) -> str | None:
        text = data.decode()
        if text == "[DONE]":
            self.done = True
            return None
        if text.startswith("hold:"):
            self._held = text.removeprefix("hold:")
            return None
        return text

    def end(self) -> None:
        raise NebulaStreamError("the stream ended before [DONE]", retryable=True)

    def held(self) -> str | None:
        held, self._held = self._held, None
        return held


class Parsers:
    """Makes a parser (a ``Lines`` unless told) per attempt, and keeps them."""

    def __init__(self, kind: Callable[[Mapping[str, str]], Lines] = Lines) -> None:
        self.kind = kind
        self.made: list[Lines] = []

    def __call__(self, headers: Mapping[str, str]) -> Lines:
        self.made.append(self.kind(headers))
        return self.made[-1]


Outcome = tuple[list[str], "NebulaError | None"]
Run = Callable[[NebulaClient, Parsers, "float | None"], Outcome]


def run_sync(client: NebulaClient, parsers: Parsers, stall: float | None) -> Outcome:
    """The items a sync stream yielded, and the error it ended with (if any)."""
    items: list[str] = []
    stream: Iterator[str] = client.stream_events("/chat", b"{}", parsers, stall=stall)
    try:
        items.extend(stream)
    except NebulaError as error:
        return items, error
    return items, None


def run_async(client: NebulaClient, parsers: Parsers, stall: float | None) -> Outcome:
    """The items an async stream yielded, and the error it ended with (if any)."""
    items: list[str] = []

    async def scenario() -> NebulaError | None:
        stream: AsyncIterator[str] = client.astream_events("/chat", b"{}", parsers, stall=stall)
        try:
            async for item in stream:
                items.append(item)
        except NebulaError as error:
            return error
        return None

    return items, asyncio.run(scenario())


both = pytest.mark.parametrize("run", [run_sync, run_async], ids=["sync", "async"])
