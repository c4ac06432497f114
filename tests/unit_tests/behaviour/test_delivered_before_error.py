"""Every chunk a stream produced is delivered before its error is raised.

Buffering proxies and gzip put several events in one network read; a text chunk and
an error (or malformed) event in the same read must give the text, then the error,
after one request: the text was generated, so the call is not retried either.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langchain_nebula import ChatNebula, NebulaError, NebulaStreamError
from tests.conftest import API_KEY
from tests.scripted_server import ScriptedServer, chunk, sse, text_stream

ERROR_EVENT = b'data: {"error": {"message": "upstream failed", "code": 503}}\n\n'
MALFORMED_EVENT = b"data: {not json\n\n"


def _one_read(*texts: str, fault: bytes) -> list[bytes]:
    """Text chunks and then ``fault``, all in one piece: one network read."""
    head = sse(
        chunk({"role": "assistant", "content": ""}),
        *[chunk({"content": t}) for t in texts],
        done=False,
    )
    return [b"".join(head) + fault]


@pytest.mark.parametrize("fault", [ERROR_EVENT, MALFORMED_EVENT], ids=["error", "malformed"])
def test_text_and_an_error_in_one_read_give_the_text_then_the_error(
    server: ScriptedServer, fault: bytes
) -> None:
    server.reply_stream(_one_read("par", "tial", fault=fault))
    server.reply_stream(text_stream("second generation"))
    received: list[str] = []
    model = ChatNebula(base_url=server.base_url, api_key=API_KEY, max_retries=3)
    with pytest.raises(NebulaStreamError):
        received.extend(c.text for c in model.stream("Hi"))
    assert "".join(received) == "partial"
    assert len(server.requests) == 1


@pytest.mark.parametrize("fault", [ERROR_EVENT, MALFORMED_EVENT], ids=["error", "malformed"])
async def test_async_text_and_an_error_in_one_read_give_the_text_then_the_error(
    server: ScriptedServer, fault: bytes
) -> None:
    server.reply_stream(_one_read("par", "tial", fault=fault))
    server.reply_stream(text_stream("second generation"))
    received: list[str] = []
    model = ChatNebula(base_url=server.base_url, api_key=API_KEY, max_retries=3)

    async def consume() -> None:
        async for c in model.astream("Hi"):
            received.append(c.text)

    with pytest.raises(NebulaStreamError):
        await consume()
    assert "".join(received) == "partial"
    assert len(server.requests) == 1


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer().start()
    yield scripted
    scripted.stop()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.lists(st.text(st.characters(codec="utf-8"), min_size=1, max_size=6), max_size=5),
    fault_at=st.integers(min_value=0, max_value=5),
    fault=st.sampled_from([ERROR_EVENT, MALFORMED_EVENT]),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=10),
    in_async=st.booleans(),
)
def test_whatever_the_reads_the_text_before_a_fault_is_exactly_what_is_delivered(
    shared_server: ScriptedServer,
    texts: list[str],
    fault_at: int,
    fault: bytes,
    cuts: list[int],
    in_async: bool,
) -> None:
    at = min(fault_at, len(texts))
    events = [chunk({"role": "assistant", "content": ""})] + [chunk({"content": t}) for t in texts]
    pieces = [*sse(*events[: at + 1], done=False), fault, *sse(*events[at + 1 :])]
    body = b"".join(pieces)
    bounds = sorted({0, len(body), *[c % (len(body) + 1) for c in cuts]})
    shared_server.replies.clear()
    shared_server.reply_stream([body[a:b] for a, b in itertools.pairwise(bounds) if b > a])
    model = ChatNebula(base_url=shared_server.base_url, api_key=API_KEY, max_retries=0)
    received: list[str] = []

    async def consume() -> None:
        async for c in model.astream("Hi"):
            received.append(c.text)

    def run() -> None:
        if in_async:
            asyncio.run(consume())
        else:
            received.extend(c.text for c in model.stream("Hi"))

    with pytest.raises(NebulaError):
        run()
    assert "".join(received) == "".join(texts[:at])


@pytest.mark.parametrize(
    "oversized",
    [b"data: " + b"x" * 2000 + b"\n\n", b"data: " + b"x" * 2000],
    ids=["event", "unfinished-line"],
)
def test_text_before_an_oversized_event_in_the_same_read_is_delivered_first(
    server: ScriptedServer, oversized: bytes
) -> None:
    server.reply_stream(_one_read("par", "tial", fault=oversized))
    received: list[str] = []
    model = ChatNebula(
        base_url=server.base_url, api_key=API_KEY, max_retries=3, max_response_bytes=1024
    )
    with pytest.raises(NebulaStreamError, match="exceeded 1024 bytes"):
        received.extend(c.text for c in model.stream("Hi"))
    assert "".join(received) == "partial"
    assert len(server.requests) == 1
