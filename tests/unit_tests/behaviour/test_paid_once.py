"""One generation per call: a request the server accepted (2xx) is not sent again.

Each resend after a ``200`` may be a second generation the user pays for. What is
still resent: a request that certainly never reached the server, a retryable status,
and an error event naming one (LiteLLM's in-band 429: nothing was generated). What
is not, unless ``retry_accepted_requests=True``: a stream that stalls, drops or ends
early before its first chunk, and a ``200`` whose body is cut short or unreadable.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import pytest

from langchain_nebula import (
    ChatNebula,
    NebulaConnectionError,
    NebulaResponseError,
    NebulaStreamError,
    NebulaTimeoutError,
)
from tests.scripted_server import Reply, ScriptedServer, chunk, completion, sse, text_stream

Make = Callable[..., ChatNebula]
ROLE = chunk({"role": "assistant", "content": ""})
NOTE = "not sent again: the server had accepted the request"


def _stream(pieces: list[bytes], **options: object) -> Reply:
    return Reply(200, {"Content-Type": "text/event-stream"}, pieces=pieces, **options)  # type: ignore[arg-type]


def test_a_stream_dropped_after_its_role_chunk_is_sent_once(
    server: ScriptedServer, make_model: Make
) -> None:
    server.replies.append(_stream([*sse(ROLE, done=False), b"never sent"], cut_after=1))
    server.reply_stream(text_stream("second generation"))
    with pytest.raises(NebulaConnectionError, match=NOTE):
        list(make_model(max_retries=2).stream("Hi"))
    assert len(server.requests) == 1


async def test_an_async_stream_dropped_after_its_role_chunk_is_sent_once(
    server: ScriptedServer, make_model: Make
) -> None:
    server.replies.append(_stream([*sse(ROLE, done=False), b"never sent"], cut_after=1))
    server.reply_stream(text_stream("second generation"))
    with pytest.raises(NebulaConnectionError, match=NOTE):
        [c async for c in make_model(max_retries=2).astream("Hi")]
    assert len(server.requests) == 1


def test_a_stream_of_keep_alive_comments_that_ends_early_is_sent_once(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_stream([b": keep-alive\n\n", b": keep-alive\n\n"])
    server.reply_stream(text_stream("second generation"))
    with pytest.raises(NebulaStreamError, match="ended before"):
        list(make_model(max_retries=2).stream("Hi"))
    assert len(server.requests) == 1


def test_a_stream_that_stalls_after_its_role_chunk_is_sent_once(
    server: ScriptedServer, make_model: Make
) -> None:
    release = threading.Event()
    pieces = [*sse(ROLE, done=False), *text_stream("late")]
    server.replies.append(_stream(pieces, stall_after=1, hold=release))
    server.reply_stream(text_stream("second generation"))
    try:
        with pytest.raises(NebulaTimeoutError, match="stream_chunk_timeout"):
            list(make_model(max_retries=2, stream_chunk_timeout=0.3).stream("Hi"))
    finally:
        release.set()
    assert len(server.requests) == 1


def test_a_200_whose_json_is_cut_short_is_sent_once(
    server: ScriptedServer, make_model: Make
) -> None:
    body = json.dumps(completion("first")).encode()
    server.replies.append(
        Reply(200, {"Content-Type": "application/json"}, pieces=[body[:40], body[40:]], cut_after=1)
    )
    server.reply_json(completion("second generation"))
    with pytest.raises(NebulaConnectionError, match=NOTE):
        make_model(max_retries=2).invoke("Hi")
    assert len(server.requests) == 1


async def test_an_async_200_that_is_not_json_is_sent_once(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_raw(b"<html>upstream hiccup</html>", status=200, content_type="text/html")
    server.reply_json(completion("second generation"))
    with pytest.raises(NebulaResponseError, match="non-JSON body"):
        await make_model(max_retries=2).ainvoke("Hi")
    assert len(server.requests) == 1


def test_an_error_event_naming_a_retryable_status_is_still_retried(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_stream(sse(ROLE, {"error": {"message": "upstream rate limited", "code": "429"}}))
    server.reply_stream(text_stream("fine"))
    assert "".join(c.text for c in make_model(max_retries=1).stream("Hi")) == "fine"
    assert len(server.requests) == 2


def test_a_retryable_status_is_still_retried(server: ScriptedServer, make_model: Make) -> None:
    server.reply_json({"error": {"message": "busy"}}, status=503, headers={"retry-after-ms": "1"})
    server.reply_json(completion("fine"))
    assert make_model(max_retries=1).invoke("Hi").content == "fine"
    assert len(server.requests) == 2


def test_retry_accepted_requests_opts_back_in(server: ScriptedServer, make_model: Make) -> None:
    server.replies.append(_stream([*sse(ROLE, done=False), b"never sent"], cut_after=1))
    server.reply_stream(text_stream("second generation"))
    body = json.dumps(completion("first")).encode()
    server.replies.append(
        Reply(200, {"Content-Type": "application/json"}, pieces=[body[:40], body[40:]], cut_after=1)
    )
    server.reply_json(completion("resent"))
    model = make_model(max_retries=1, retry_accepted_requests=True)
    assert "".join(c.text for c in model.stream("Hi")) == "second generation"
    assert model.invoke("Hi").content == "resent"
    assert len(server.requests) == 4
