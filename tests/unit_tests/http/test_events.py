"""Pins of a stream's pipeline (body pieces → events → the parser's output), through
the transport over real sockets: what is handed out, and when, around a failure."""

from __future__ import annotations

import threading

from langchain_nebula.errors import NebulaStreamError, NebulaTimeoutError
from tests.scripted_server import Reply, ScriptedServer, sse
from tests.unit_tests.http.scripted_calls import SSE, STALLED, Parsers, Run, both, nebula


@both
def test_a_quiet_stream_hands_out_what_was_held_before_the_error(
    server: ScriptedServer, release: threading.Event, run: Run
) -> None:
    pieces = [*sse("a", "hold:b", done=False), b"data: late\n\n"]
    server.replies.append(Reply(200, SSE, pieces=pieces, stall_after=2, hold=release))
    items, error = run(nebula(server.base_url), Parsers(), 0.05)
    assert items == ["a", "b"]
    assert type(error) is NebulaTimeoutError
    assert error.message == STALLED


@both
def test_a_stream_cut_after_held_text_hands_the_text_out_and_is_not_resent(
    server: ScriptedServer, run: Run
) -> None:
    server.reply_stream(sse("hold:b", "c", done=False), cut_after=1)
    items, error = run(
        nebula(server.base_url, max_retries=2, retry_accepted_requests=True), Parsers(), None
    )
    assert items == ["b"]
    assert type(error).__name__ == "NebulaConnectionError"
    assert error.message.startswith("server closed the connection: ")
    assert len(server.requests) == 1


@both
def test_a_stream_ending_without_done_raises_after_its_items(
    server: ScriptedServer, run: Run
) -> None:
    server.reply_stream(sse("a", "hold:b", done=False))
    items, error = run(nebula(server.base_url), Parsers(), None)
    assert items == ["a", "b"]
    assert type(error) is NebulaStreamError
    assert error.message == "the stream ended before [DONE]"
