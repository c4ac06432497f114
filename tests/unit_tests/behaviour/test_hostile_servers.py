"""Hostile servers: time and memory stay bounded, every malformed answer is a typed error."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.outputs import ChatResult

from langchain_nebula import (
    ChatNebula,
    NebulaError,
    NebulaResponseError,
    NebulaServerError,
    NebulaStreamError,
    NebulaTimeoutError,
)
from langchain_nebula._http.failures import decode_json_body
from langchain_nebula._http.libraries import LIBRARIES
from langchain_nebula._wire.completions import map_completion
from langchain_nebula.errors import error_from_response
from tests.scripted_server import (
    Reply,
    ScriptedServer,
    chunk,
    completion,
    generic_reply,
    sse,
    text_stream,
)
from tests.stream_helpers import run_stream

Make = Callable[..., ChatNebula]


# -- bounded time ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"<" * 100_000, b"<title" * 20_000, b"<a" + b" " * 100_000, b'{"error": ' * 50_000],
    ids=["angles", "titles", "unclosed-tag", "deep-json"],
)
def test_summarising_a_hostile_error_body_takes_linear_time(body: bytes) -> None:
    started = time.perf_counter()
    error = error_from_response(502, {}, body)
    assert time.perf_counter() - started < 0.25
    assert isinstance(error, NebulaServerError)
    assert len(error.message) < 400


def _keep_alive_forever(stop: threading.Event) -> Iterator[bytes]:
    yield b": keep-alive\n\n"
    while not stop.wait(0.05):  # a server's pace, not test synchronisation
        yield b": keep-alive\n\n"


def _drip(stop: threading.Event) -> Iterator[bytes]:
    for byte in b'data: {"choices": [{"delta": {"content": "never finished"}}]}':
        if stop.wait(0.05):
            return
        yield bytes([byte])


@pytest.mark.parametrize("body", [_keep_alive_forever, _drip], ids=["keep-alive", "drip"])
def test_a_stream_that_produces_no_event_ends_by_the_stall_timeout(
    server: ScriptedServer, make_model: Make, body: Callable[[threading.Event], Iterator[bytes]]
) -> None:
    stop = threading.Event()
    server.replies.append(Reply(200, {"Content-Type": "text/event-stream"}, pieces=body(stop)))  # type: ignore[arg-type]
    started = time.monotonic()
    try:
        with pytest.raises(NebulaTimeoutError) as caught:
            list(make_model(stream_chunk_timeout=0.5).stream("Hi"))
    finally:
        stop.set()
    assert 0.5 <= time.monotonic() - started < 2.0
    assert caught.value.message == (
        "the stream produced no event for 0.5 s (stream_chunk_timeout); the server may be stuck"
    )


def test_a_stream_that_sends_nothing_at_all_ends_by_the_stall_timeout(
    server: ScriptedServer, make_model: Make
) -> None:
    release = threading.Event()
    server.replies.append(
        Reply(
            200,
            {"Content-Type": "text/event-stream"},
            pieces=[b"data: [DONE]\n\n"],
            stall_after=0,
            hold=release,
        )
    )
    started = time.monotonic()
    try:
        with pytest.raises(NebulaTimeoutError, match=r"produced no event for 0\.5 s"):
            list(make_model(stream_chunk_timeout=0.5).stream("Hi"))
    finally:
        release.set()
    assert time.monotonic() - started < 2.0


def test_total_timeout_bounds_the_call_retries_included(
    server: ScriptedServer, make_model: Make
) -> None:
    for _ in range(10):
        server.reply_json(
            {"error": {"message": "busy"}}, status=503, headers={"Retry-After": "0.4"}
        )
    started = time.monotonic()
    with pytest.raises(NebulaServerError) as caught:
        make_model(max_retries=9, total_timeout=1.0).invoke("Hi")
    assert time.monotonic() - started < 1.3
    assert caught.value.message.endswith("(no time left to retry within total_timeout)")
    assert 2 <= len(server.requests) <= 3


def test_total_timeout_ends_a_stream_that_runs_too_long(
    server: ScriptedServer, make_model: Make
) -> None:
    stop = threading.Event()

    def slow_text() -> Iterator[bytes]:
        while not stop.wait(0.1):
            yield b"data: " + json.dumps(chunk({"content": "more "})).encode() + b"\n\n"

    server.replies.append(Reply(200, {"Content-Type": "text/event-stream"}, pieces=slow_text()))  # type: ignore[arg-type]
    started = time.monotonic()
    try:
        with pytest.raises(
            NebulaTimeoutError, match=r"^the call did not finish within total_timeout$"
        ):
            for _ in make_model(total_timeout=0.6).stream("Hi"):
                pass
    finally:
        stop.set()
    assert time.monotonic() - started < 1.5


# -- bounded memory -------------------------------------------------------------------


def test_a_body_over_max_response_bytes_is_refused(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(completion("x" * 300_000))
    server.reply_json(completion("never"))
    with pytest.raises(NebulaResponseError) as caught:
        make_model(max_response_bytes=100_000, max_retries=2).invoke("Hi")
    assert caught.value.message == (
        "the response body exceeded max_response_bytes=100000 (after decompression); "
        "raise max_response_bytes if such answers are expected"
    )
    assert len(server.requests) == 1  # the same answer would come again: not retried


def test_a_chunked_body_without_length_is_capped_too(
    server: ScriptedServer, make_model: Make
) -> None:
    big = json.dumps(completion("y" * 300_000)).encode()
    server.replies.append(
        Reply(
            200,
            {"Content-Type": "application/json"},
            pieces=[big[i : i + 4096] for i in range(0, len(big), 4096)],
        )
    )
    with pytest.raises(NebulaResponseError, match="exceeded max_response_bytes=100000"):
        make_model(max_response_bytes=100_000).invoke("Hi")


def test_a_gzip_bomb_is_refused_within_the_budget(server: ScriptedServer, make_model: Make) -> None:
    bomb = gzip.compress(b'{"choices": [{"message": {"content": "' + b"0" * 200_000_000, 9)
    assert len(bomb) < 300_000
    server.reply_raw(bomb, content_type="application/json", headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        with pytest.raises(NebulaResponseError, match="exceeded max_response_bytes=1048576"):
            make_model(max_response_bytes=1024 * 1024).invoke("Hi")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_answers_are_read(
    server: ScriptedServer, make_model: Make, encoding: str
) -> None:
    import zlib

    body = json.dumps(completion("squeezed")).encode()
    packed = gzip.compress(body) if encoding == "gzip" else zlib.compress(body)
    server.reply_raw(
        packed, content_type="application/json", headers={"Content-Encoding": encoding}
    )
    assert make_model().invoke("Hi").content == "squeezed"


def test_a_compressed_stream_is_read(server: ScriptedServer, make_model: Make) -> None:
    body = gzip.compress(b"".join(text_stream("squeezed ", "stream")))
    server.replies.append(
        Reply(
            200,
            {"Content-Type": "text/event-stream", "Content-Encoding": "gzip"},
            pieces=[body[i : i + 7] for i in range(0, len(body), 7)],
        )
    )
    assert "".join(c.text for c in make_model().stream("Hi")) == "squeezed stream"


def test_an_encoding_that_was_not_asked_for_is_a_typed_error(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_raw(b"xx", content_type="application/json", headers={"Content-Encoding": "br"})
    with pytest.raises(NebulaResponseError, match="Content-Encoding 'br', which was not asked for"):
        make_model().invoke("Hi")
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


# -- malformed answers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"id": "x"}, "the completion has no choices"),
        ({"choices": [None]}, "choice 0 is a JSON NoneType, not an object"),
        ({"choices": [{"message": "Hello"}]}, "choice 0's message is a JSON str, not an object"),
        ({"choices": [{"message": {"content": 42}}]}, "choice 0's content is a JSON int, not text"),
        ({"choices": "nope"}, "the completion has no choices"),
    ],
)
def test_malformed_completions_are_typed_errors(
    server: ScriptedServer, make_model: Make, body: dict[str, Any], message: str
) -> None:
    server.reply_json(body)
    with pytest.raises(NebulaResponseError) as caught:
        make_model(max_retries=2).invoke("Hi")
    assert caught.value.message == message
    assert len(server.requests) == 1


def test_a_byte_order_mark_before_the_first_event_is_ignored(
    server: ScriptedServer, make_model: Make
) -> None:
    pieces = text_stream("first", " second")
    server.reply_stream([b"\xef\xbb", b"\xbf" + pieces[0], *pieces[1:]])
    assert "".join(c.text for c in make_model().stream("Hi")) == "first second"


@pytest.mark.parametrize(
    "event",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"choices": [None]}).encode(),
        json.dumps({"choices": [{"delta": "x"}]}).encode(),
    ],
    ids=["not-json", "array", "null-choice", "string-delta"],
)
def test_a_malformed_stream_event_is_not_retried(
    server: ScriptedServer, make_model: Make, event: bytes
) -> None:
    server.reply_stream(sse(event))
    server.reply_stream(text_stream("never"))
    with pytest.raises(NebulaStreamError):
        list(make_model(max_retries=3).stream("Hi"))
    assert len(server.requests) == 1


def test_an_oversized_stream_event_is_not_retried(server: ScriptedServer, make_model: Make) -> None:
    server.reply_stream([b"data: " + b"x" * 200_000])
    server.reply_stream(text_stream("never"))
    with pytest.raises(NebulaStreamError, match="exceeded 100000 bytes"):
        list(make_model(max_retries=3, max_response_bytes=100_000).stream("Hi"))
    assert len(server.requests) == 1


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "choices",
        "message",
        "delta",
        "content",
        "tool_calls",
        "function",
        "arguments",
        "usage",
        "prompt_tokens",
        "finish_reason",
        "reasoning_content",
        "id",
        "index",
        "name",
        "error",
    ]
)
SHAPED = st.recursive(
    JSON,
    lambda inner: st.dictionaries(KEYS, inner, max_size=4) | st.lists(inner, max_size=2),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(body=st.dictionaries(KEYS, SHAPED, max_size=4))
def test_any_completion_shape_maps_to_a_message_or_a_typed_error(body: dict[str, Any]) -> None:
    try:
        result = map_completion(body, "tags")
    except NebulaError:
        return
    assert isinstance(result, ChatResult)
    assert all(isinstance(g.message.content, str) for g in result.generations)


@settings(max_examples=500, deadline=None)
@given(events=st.lists(st.dictionaries(KEYS, SHAPED, max_size=4), max_size=4))
def test_any_stream_event_shapes_give_chunks_or_a_typed_error(events: list[dict[str, Any]]) -> None:
    with contextlib.suppress(NebulaError):
        run_stream(sse(*events), mode="tags")


# -- Retry-After from a hostile server ------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "garbage"])
def test_a_hostile_retry_after_falls_back_to_backoff(
    server: ScriptedServer, make_model: Make, value: str
) -> None:
    server.reply_json({"error": {"message": "slow"}}, status=429, headers={"Retry-After": value})
    server.reply_json(completion("ok"))
    started = time.monotonic()
    assert make_model(max_retries=1).invoke("Hi").content == "ok"
    assert time.monotonic() - started < 2.0


async def test_a_hostile_retry_after_does_not_hang_async(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json({"error": {"message": "slow"}}, status=429, headers={"Retry-After": "nan"})
    server.reply_json(completion("ok"))
    reply = await asyncio.wait_for(make_model(max_retries=1).ainvoke("Hi"), 5)
    assert reply.content == "ok"


# -- concurrency ----------------------------------------------------------------------


def test_threads_each_running_event_loops_share_the_registry_safely(
    server: ScriptedServer, make_model: Make
) -> None:

    server.default = generic_reply
    model = make_model()
    failures: list[BaseException] = []

    def run_loops() -> None:
        try:
            for _ in range(10):
                assert asyncio.run(model.ainvoke("again")).content == "You said: again"
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run_loops) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(server.requests) == 80


def test_connections_of_finished_event_loops_are_closed(
    server: ScriptedServer, make_model: Make
) -> None:

    server.default = generic_reply
    model = make_model()
    for _ in range(30):
        asyncio.run(model.ainvoke("again"))
    deadline = time.monotonic() + 5
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.01)  # the server thread notices the close: poll its counter
    assert server.open_connections == 0


@pytest.mark.parametrize("library", LIBRARIES, ids=lambda m: m.__name__)
async def test_an_async_stream_waiting_to_retry_holds_no_connection(
    server: ScriptedServer, library: ModuleType
) -> None:
    # One connection: a stream backing off after a 503 must let another call through.
    server.reply_json({"error": {"message": "busy"}}, status=503, headers={"Retry-After": "1"})
    server.reply_json(completion("quick"))
    server.reply_stream(text_stream("late"))
    arrived = server.arrival()
    limits = library.Limits(max_connections=1)
    async with library.AsyncClient(limits=limits, timeout=library.Timeout(5.0, pool=0.5)) as client:
        model = ChatNebula(
            base_url=server.base_url, api_key=None, max_retries=1, http_async_client=client
        )

        async def stream() -> str:
            return "".join([c.text async for c in model.astream("Hi")])

        streaming = asyncio.ensure_future(stream())
        await asyncio.wait_for(arrived.wait(), 5)
        assert (await model.ainvoke("Hi")).content == "quick"  # within the pool timeout
        assert await streaming == "late"


@pytest.mark.parametrize("library", LIBRARIES, ids=lambda m: m.__name__)
async def test_waiting_for_a_connection_honours_the_pool_timeout(
    server: ScriptedServer, library: ModuleType
) -> None:
    release = threading.Event()
    body = json.dumps(completion()).encode()
    server.replies.append(Reply(200, {"Content-Type": "application/json"}, body, hold=release))
    arrived = server.arrival()
    limits = library.Limits(max_connections=1)
    async with library.AsyncClient(limits=limits, timeout=library.Timeout(5.0, pool=0.3)) as client:
        model = ChatNebula(
            base_url=server.base_url, api_key=None, max_retries=0, http_async_client=client
        )
        holding = asyncio.ensure_future(model.ainvoke("Hi"))
        await asyncio.wait_for(arrived.wait(), 5)
        started = time.monotonic()
        with pytest.raises(NebulaTimeoutError, match=r"^request timed out \(PoolTimeout"):
            await model.ainvoke("Hi")
        assert 0.3 <= time.monotonic() - started < 1.5
        release.set()
        await holding


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_json_numbers_are_a_typed_error_not_a_value(literal: bytes) -> None:
    # Python's own json module reads these; they are not JSON, and no server should send them.
    event = b'{"choices": [{"delta": {"content": "x"}, "logprobs": ' + literal + b"}]}"
    with pytest.raises(NebulaStreamError, match="unparseable stream event"):
        run_stream(sse(event), mode="field")
    with pytest.raises(NebulaResponseError, match="the server answered 200 with a non-JSON body"):
        decode_json_body(b'{"x": ' + literal + b"}")


def test_huge_response_is_read_whole(server: ScriptedServer, make_model: Make) -> None:
    text = "x" * (8 * 1024 * 1024)
    server.reply_json(completion(text))
    assert len(make_model().invoke("Hi").content) == len(text)
