"""Pins of the transport: streamed calls, sync and async, over real sockets."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

from langchain_nebula._http.client import NebulaClient
from langchain_nebula.errors import (
    NebulaError,
    NebulaResponseError,
    NebulaServerError,
    NebulaTimeoutError,
)
from tests.conftest import API_KEY
from tests.scripted_server import Reply, ScriptedServer, sse
from tests.unit_tests.http.scripted_calls import (
    AT_ONCE,
    SSE,
    STALLED,
    Lines,
    Parsers,
    Run,
    both,
    nebula,
)


def _stalling(release: threading.Event, *pieces: bytes) -> Reply:
    """A stream sending ``pieces`` and then nothing until ``release`` is set."""
    return Reply(
        200, SSE, pieces=[*pieces, b"data: late\n\n"], stall_after=len(pieces), hold=release
    )


# -- a stream that goes quiet ---------------------------------------------------------


@both
@pytest.mark.parametrize("total_timeout", [None, 30.0])
def test_a_quiet_stream_under_the_stall_rule_raises_the_stall_error(
    server: ScriptedServer, release: threading.Event, run: Run, total_timeout: float | None
) -> None:
    server.replies.append(_stalling(release, *sse("a", done=False)))
    items, error = run(nebula(server.base_url, total_timeout=total_timeout), Parsers(), 0.05)
    assert items == ["a"]
    assert type(error) is NebulaTimeoutError
    assert error.message == STALLED
    assert error.__cause__ is None
    assert len(server.requests) == 1


@both
def test_a_quiet_stream_under_the_read_rule_is_a_transport_timeout(
    server: ScriptedServer, release: threading.Event, run: Run
) -> None:
    server.replies.append(_stalling(release, *sse("a", done=False)))
    items, error = run(nebula(server.base_url, timeout=0.05), Parsers(), 30.0)
    assert items == ["a"]
    assert type(error) is NebulaTimeoutError
    assert error.message.startswith("request timed out (ReadTimeout: ")
    assert len(server.requests) == 1


# -- retries --------------------------------------------------------------------------


@both
def test_a_failed_open_is_retried_with_a_fresh_parser(server: ScriptedServer, run: Run) -> None:
    server.reply_json({"error": {"message": "busy"}}, status=503, headers=AT_ONCE)
    server.replies.append(Reply(200, {**SSE, "X-Attempt": "2"}, pieces=sse("a", "b")))
    parsers = Parsers()
    items, error = run(nebula(server.base_url, max_retries=1), parsers, None)
    assert (items, error) == (["a", "b"], None)
    assert len(server.requests) == 2
    [parser] = parsers.made
    assert parser.headers["x-attempt"] == "2"


@both
def test_an_open_failure_past_the_retries_is_raised_scrubbed(
    server: ScriptedServer, run: Run
) -> None:
    for _ in range(2):
        server.reply_json({"error": {"message": f"busy ({API_KEY})"}}, status=503, headers=AT_ONCE)
    items, error = run(nebula(server.base_url, max_retries=1), Parsers(), None)
    assert items == []
    assert type(error) is NebulaServerError
    assert error.message == "busy (***)"
    assert error.status_code == 503
    assert len(server.requests) == 2


@both
def test_an_in_band_error_before_anything_is_yielded_is_retried(
    server: ScriptedServer, run: Run
) -> None:
    server.reply_stream([b'data: {"error": 1}\n\n'])  # an in-band 429, as LiteLLM sends
    server.reply_stream(sse("a"))
    parsers = Parsers(InBand429)
    items, error = run(nebula(server.base_url, max_retries=1), parsers, None)
    assert (items, error) == (["a"], None)
    assert len(parsers.made) == 2
    assert len(server.requests) == 2


class InBand429(Lines):
    """Raises a retryable 429 (retry at once) for a ``{"error": 1}`` event."""

    def feed(self, data: bytes) -> str | None:
        if data == b'{"error": 1}':
            raise NebulaError("upstream busy", status_code=429, retryable=True, retry_after=0)
        return super().feed(data)


@both
def test_an_error_after_an_item_is_never_retried(server: ScriptedServer, run: Run) -> None:
    server.reply_stream([*sse("a", done=False), b'data: {"error": 1}\n\n'])
    parsers = Parsers(InBand429)
    items, error = run(nebula(server.base_url, max_retries=2), parsers, None)
    assert items == ["a"]
    assert error is not None
    assert error.message == "upstream busy"
    assert len(server.requests) == 1


@both
def test_an_undecodable_stream_fails_before_any_parser_is_fed(
    server: ScriptedServer, run: Run
) -> None:
    server.replies.append(Reply(200, {**SSE, "Content-Encoding": "br"}, pieces=sse("a")))
    parsers = Parsers()
    items, error = run(nebula(server.base_url), parsers, None)
    assert items == []
    assert type(error) is NebulaResponseError
    assert error.message == "the server sent Content-Encoding 'br', which was not asked for"
    assert parsers.made == []


@both
def test_a_stream_still_sending_when_total_timeout_runs_out_is_cut_off(
    server: ScriptedServer, run: Run
) -> None:
    stop = threading.Event()

    def paced() -> Iterator[bytes]:
        for _ in range(100):  # an event every 20 ms, for 2 s: no read ever waits long
            if stop.wait(0.02):
                return
            yield b"data: more\n\n"

    server.replies.append(Reply(200, SSE, pieces=paced()))  # type: ignore[arg-type]
    try:
        items, error = run(nebula(server.base_url, total_timeout=0.15), Parsers(), None)
    finally:
        stop.set()
    assert set(items) == {"more"}
    assert type(error) is NebulaTimeoutError
    assert error.message == "the call did not finish within total_timeout"
    assert not error.retryable


@both
def test_a_stream_under_a_total_timeout_completes(server: ScriptedServer, run: Run) -> None:
    server.reply_stream(sse("a", "b"))
    items, error = run(nebula(server.base_url, total_timeout=30.0), Parsers(), 30.0)
    assert (items, error) == (["a", "b"], None)


# -- JSON calls -----------------------------------------------------------------------


def call(client: NebulaClient, sync: bool) -> tuple[dict[str, Any], Mapping[str, str]]:
    """``post_json``, or ``apost_json`` run on a fresh loop."""
    if sync:
        return client.post_json("/x", b"{}")
    return asyncio.run(client.apost_json("/x", b"{}"))


calls = pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])


@calls
def test_a_gzipped_answer_is_decoded(server: ScriptedServer, sync: bool) -> None:
    body = json.dumps({"text": "x" * 1000}).encode()
    server.reply_raw(
        gzip.compress(body), content_type="application/json", headers={"Content-Encoding": "gzip"}
    )
    answer, _ = call(nebula(server.base_url, total_timeout=30.0), sync)
    assert answer == {"text": "x" * 1000}


@calls
def test_an_answer_longer_than_max_response_bytes_is_refused_by_its_length(
    server: ScriptedServer, sync: bool
) -> None:
    server.reply_json({"text": "x" * 100})
    with pytest.raises(NebulaResponseError) as caught:
        call(nebula(server.base_url, max_response_bytes=50), sync)
    assert caught.value.message == (
        "the response body exceeded max_response_bytes=50 (after decompression); raise "
        "max_response_bytes if such answers are expected"
    )


@calls
def test_a_key_echoed_in_an_answer_is_masked_in_it_and_its_headers(
    server: ScriptedServer, sync: bool
) -> None:
    server.reply_json(
        {"echo": {"authorization": f"Bearer {API_KEY}"}, "n": [1]},
        headers={"X-Echo": f"Bearer {API_KEY}", "X-Other": "kept"},
    )
    answer, headers = call(nebula(server.base_url), sync)
    assert answer == {"echo": {"authorization": "Bearer ***"}, "n": [1]}
    assert headers["x-echo"] == "Bearer ***"
    assert headers["x-other"] == "kept"
    assert headers["content-type"] == "application/json"


@calls
def test_an_answer_without_the_key_is_returned_as_sent(server: ScriptedServer, sync: bool) -> None:
    server.reply_json({"n": [1, 2]}, headers={"X-Other": "kept"})
    answer, headers = call(nebula(server.base_url, api_key=None), sync)
    assert answer == {"n": [1, 2]}
    assert headers["x-other"] == "kept"


@calls
def test_an_answer_a_mock_transport_read_already_is_read_like_any(sync: bool) -> None:
    # httpx.MockTransport (which users pass in their own tests) reads answers on creation.
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"mocked": True}, headers={"X-Mock": "1"})

    transport = httpx.MockTransport(answer)
    if sync:
        with httpx.Client(transport=transport) as passed:
            got, headers = nebula("http://127.0.0.1:9/v1", http_client=passed).post_json("/x", b"")
    else:

        async def scenario() -> tuple[dict[str, Any], Mapping[str, str]]:
            async with httpx.AsyncClient(transport=transport) as passed:
                client = nebula("http://127.0.0.1:9/v1", http_async_client=passed)
                return await client.apost_json("/x", b"")

        got, headers = asyncio.run(scenario())
    assert got == {"mocked": True}
    assert headers["x-mock"] == "1"


@calls
@pytest.mark.parametrize(
    ("timeout", "total_timeout"), [(0.05, 30.0), (30.0, 0.1)], ids=["read", "deadline"]
)
def test_a_held_answer_times_out_at_the_shorter_of_the_read_wait_and_the_deadline(
    server: ScriptedServer,
    release: threading.Event,
    sync: bool,
    timeout: float,
    total_timeout: float,
) -> None:
    server.replies.append(Reply(200, {"Content-Type": "application/json"}, b"{}", hold=release))
    client = nebula(server.base_url, timeout=timeout, total_timeout=total_timeout)
    with pytest.raises(NebulaTimeoutError, match=r"^request timed out \(ReadTimeout: "):
        call(client, sync)
    assert len(server.requests) == 1


@calls
def test_an_answer_of_exactly_max_response_bytes_is_accepted(
    server: ScriptedServer, sync: bool
) -> None:
    server.reply_raw(b'{"a": 12345}', content_type="application/json")
    assert call(nebula(server.base_url, max_response_bytes=12), sync)[0] == {"a": 12345}


@calls
def test_a_mock_transports_gzipped_answer_is_read_decoded(sync: bool) -> None:
    # The mock decodes it on creation: its Content-Encoding and (compressed, here
    # longer) Content-Length no longer apply.
    body = gzip.compress(b'{"a": 1}')
    assert len(body) > 20

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"Content-Encoding": "gzip"})

    transport = httpx.MockTransport(answer)
    if sync:
        with httpx.Client(transport=transport) as passed:
            client = nebula("http://127.0.0.1:9/v1", max_response_bytes=20, http_client=passed)
            got, headers = client.post_json("/x", b"")
    else:

        async def scenario() -> tuple[dict[str, Any], Mapping[str, str]]:
            async with httpx.AsyncClient(transport=transport) as passed:
                client = nebula(
                    "http://127.0.0.1:9/v1", max_response_bytes=20, http_async_client=passed
                )
                return await client.apost_json("/x", b"")

        got, headers = asyncio.run(scenario())
    assert got == {"a": 1}
    assert "content-encoding" not in headers
