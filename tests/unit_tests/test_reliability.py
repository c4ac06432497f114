"""Faults, timing bounds, cancellation, load, event loops and hostile input."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.rate_limiters import InMemoryRateLimiter

from langchain_nebula import (
    ChatNebula,
    NebulaRateLimitError,
    NebulaServerError,
    NebulaStreamError,
    NebulaTimeoutError,
)
from langchain_nebula._wire.messages import map_messages
from tests.scripted_server import Reply, ScriptedServer, completion, generic_reply, text_stream
from tests.stream_helpers import run_stream

Make = Callable[..., ChatNebula]
RATE_LIMITED = {"error": {"message": "slow down", "code": "429"}}


def test_429_without_retry_after_backs_off_exponentially(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(RATE_LIMITED, status=429)
    server.reply_json(RATE_LIMITED, status=429)
    server.reply_json(completion("ok"))
    started = time.monotonic()
    assert make_model(max_retries=2).invoke("Hi").content == "ok"
    elapsed = time.monotonic() - started
    # 0.5 s then 1.0 s, each with up to 25% jitter off: between 1.125 s and 1.5 s of waiting.
    assert 1.1 <= elapsed < 3.0
    assert len(server.requests) == 3


def test_429_retry_after_seconds_is_honoured(server: ScriptedServer, make_model: Make) -> None:
    server.reply_json(RATE_LIMITED, status=429, headers={"Retry-After": "1"})
    server.reply_json(completion("ok"))
    started = time.monotonic()
    make_model(max_retries=1).invoke("Hi")
    assert 1.0 <= time.monotonic() - started < 2.5


def test_retry_after_http_date_is_honoured(server: ScriptedServer, make_model: Make) -> None:
    from email.utils import formatdate

    server.reply_json(
        RATE_LIMITED, status=429, headers={"Retry-After": formatdate(time.time() + 1, usegmt=True)}
    )
    server.reply_json(completion("ok"))
    started = time.monotonic()
    make_model(max_retries=1).invoke("Hi")
    assert time.monotonic() - started < 2.5


def test_exhausted_retries_take_bounded_time(server: ScriptedServer, make_model: Make) -> None:
    for _ in range(3):
        server.reply_json(
            {"error": {"message": "down"}}, status=503, headers={"retry-after-ms": "50"}
        )
    started = time.monotonic()
    with pytest.raises(NebulaServerError):
        make_model(max_retries=2).invoke("Hi")
    assert len(server.requests) == 3
    assert 0.1 <= time.monotonic() - started < 1.5


def test_slow_headers_hit_the_timeout_within_its_bound(
    server: ScriptedServer, make_model: Make
) -> None:
    release = threading.Event()
    body = json.dumps(completion()).encode()
    server.replies.append(Reply(200, {"Content-Type": "application/json"}, body, hold=release))
    started = time.monotonic()
    try:
        with pytest.raises(NebulaTimeoutError):
            make_model(timeout=0.3).invoke("Hi")
    finally:
        release.set()
    assert time.monotonic() - started < 2.0


def test_a_stall_between_stream_chunks_is_bounded(server: ScriptedServer, make_model: Make) -> None:
    release = threading.Event()
    pieces = text_stream("a", "b", "c")
    server.replies.append(
        Reply(
            200, {"Content-Type": "text/event-stream"}, pieces=pieces, stall_after=2, hold=release
        )
    )
    received: list[str] = []
    started = time.monotonic()

    def consume() -> None:
        received.extend(c.text for c in make_model(timeout=0.3).stream("Hi"))

    try:
        with pytest.raises(NebulaTimeoutError):
            consume()
    finally:
        release.set()
    assert "".join(received) == "a"
    assert time.monotonic() - started < 2.0


def test_a_stream_is_not_retried_after_it_started(server: ScriptedServer, make_model: Make) -> None:
    server.reply_stream(text_stream("a", "b"), cut_after=2)
    server.reply_stream(text_stream("never"))
    with pytest.raises(Exception, match=r"closed the connection|reach"):
        list(make_model(max_retries=3).stream("Hi"))
    assert len(server.requests) == 1


def test_huge_response_is_read_whole(server: ScriptedServer, make_model: Make) -> None:
    text = "x" * (8 * 1024 * 1024)
    server.reply_json(completion(text))
    assert len(make_model().invoke("Hi").content) == len(text)


def test_one_huge_stream_event_is_refused_not_buffered_forever(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_stream([b"data: " + b"x" * (2 * 1024 * 1024)])
    with pytest.raises(NebulaStreamError, match="exceeded 1048576 bytes"):
        list(make_model(max_response_bytes=1024 * 1024).stream("Hi"))


async def test_cancellation_is_not_retried_or_swallowed(
    server: ScriptedServer, make_model: Make
) -> None:
    release = threading.Event()
    body = json.dumps(completion()).encode()
    server.replies.append(Reply(200, {"Content-Type": "application/json"}, body, hold=release))
    in_flight = server.arrival()
    task = asyncio.ensure_future(make_model(max_retries=5).ainvoke("Hi"))
    await asyncio.wait_for(in_flight.wait(), 10)
    task.cancel()
    try:
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        release.set()
    assert len(server.requests) == 1


def test_the_same_instance_works_across_event_loops(
    server: ScriptedServer, make_model: Make
) -> None:
    server.default = generic_reply
    model = make_model()
    for _ in range(3):
        assert asyncio.run(model.ainvoke("again")).content == "You said: again"
    assert len(server.requests) == 3


def test_rate_limiter_paces_requests(server: ScriptedServer, make_model: Make) -> None:
    server.default = generic_reply
    limiter = InMemoryRateLimiter(
        requests_per_second=20, check_every_n_seconds=0.01, max_bucket_size=1
    )
    model = make_model(rate_limiter=limiter)
    started = time.monotonic()
    for _ in range(5):
        model.invoke("Hi")
    assert time.monotonic() - started >= 0.15


async def test_1000_concurrent_abatch_calls_on_one_bounded_pool(
    server: ScriptedServer, make_model: Make
) -> None:
    server.default = generic_reply
    prompts = [f"q{i}" for i in range(1000)]
    replies = await make_model().abatch(prompts, config={"max_concurrency": 1000})
    assert [r.content for r in replies] == [f"You said: q{i}" for i in range(1000)]
    assert len(server.requests) == 1000
    # The pool caps connections at 100 and reuses them rather than opening one per call.
    assert server.most_open_connections <= 100
    assert len({request.peer for request in server.requests}) < 1000


def test_200_threads_of_batch_share_one_client(server: ScriptedServer, make_model: Make) -> None:
    server.default = generic_reply
    model = make_model()

    def call(i: int) -> str:
        return str(model.invoke(f"t{i}").content)

    with ThreadPoolExecutor(max_workers=200) as pool:
        answers = list(pool.map(call, range(200)))
    assert answers == [f"You said: t{i}" for i in range(200)]
    assert server.most_open_connections <= 100


@pytest.mark.parametrize(
    "bad",
    [
        {"temperature": -1},
        {"temperature": 3},
        {"max_tokens": 0},
        {"n": 0},
        {"top_p": 1.5},
        {"max_retries": -1},
    ],
)
def test_bad_parameters_fail_at_construction(bad: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError, match=next(iter(bad))):
        ChatNebula(**bad)


def test_model_kwargs_may_not_shadow_fields() -> None:
    with pytest.raises(pydantic.ValidationError, match="temperature"):
        ChatNebula(model_kwargs={"temperature": 0.5})


def test_rate_limit_errors_report_the_requested_wait(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(RATE_LIMITED, status=429, headers={"Retry-After": "7"})
    with pytest.raises(NebulaRateLimitError) as caught:
        make_model(max_retries=0).invoke("Hi")
    assert caught.value.retry_after == 7.0


# -- hostile input: conversion either succeeds or raises ValueError --------------------

TEXTS = st.text(max_size=20)
BLOCKS = st.one_of(
    TEXTS,
    st.fixed_dictionaries({"type": st.just("text"), "text": TEXTS}),
    st.fixed_dictionaries(
        {
            "type": st.just("image_url"),
            "image_url": st.one_of(TEXTS, st.fixed_dictionaries({"url": TEXTS})),
        }
    ),
    st.fixed_dictionaries({"type": st.just("image"), "url": TEXTS}),
    st.fixed_dictionaries({"type": st.just("image"), "base64": TEXTS, "mime_type": TEXTS}),
    st.fixed_dictionaries(
        {
            "type": st.just("image"),
            "source_type": st.sampled_from(["url", "base64", "id"]),
            "data": TEXTS,
        }
    ),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["audio", "video", "file", "reasoning", "tool_call", "weird"])}
    ),
    st.dictionaries(
        st.sampled_from(["type", "text", "url", "image_url", "data"]),
        st.one_of(TEXTS, st.none(), st.integers()),
    ),
)
CONTENT = st.one_of(TEXTS, st.lists(BLOCKS, max_size=4))


def _message(kind: str, content: Any) -> BaseMessage:
    if kind == "human":
        return HumanMessage(content=content)
    if kind == "system":
        return SystemMessage(content=content)
    if kind == "ai":
        return AIMessage(content=content)
    if kind == "tool":
        return ToolMessage(content=content, tool_call_id="c1")
    return ChatMessage(role="user", content=content)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(["human", "system", "ai", "tool", "chat"]), CONTENT), max_size=5
    )
)
def test_any_conversation_converts_or_raises_value_error(
    conversation: list[tuple[str, Any]],
) -> None:
    try:
        messages = [_message(kind, content) for kind, content in conversation]
    except pydantic.ValidationError:
        return  # LangChain itself refused the message; nothing reaches us
    try:
        wire = map_messages(messages)
    except ValueError:
        return
    json.dumps(wire)  # whatever converts is sendable


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12))
def test_any_chunking_of_a_stream_gives_the_same_chunks(cuts: list[int]) -> None:
    body = b"".join(text_stream("Hé", "llo ", "wörld", "!"))

    def run(pieces: list[bytes]) -> list[tuple[str, Any]]:
        return [(c.text, c.message.usage_metadata) for c in run_stream(pieces)]

    bounds = sorted({0, len(body), *[c % (len(body) + 1) for c in cuts]})
    assert run([body[a:b] for a, b in itertools.pairwise(bounds)]) == run([body])


def test_error_event_before_the_first_chunk_is_retried(
    server: ScriptedServer, make_model: Make
) -> None:
    from tests.scripted_server import sse

    # LiteLLM answers 200 and then reports its upstream's 429 as the first event.
    server.reply_stream(sse({"error": {"message": "upstream rate limited", "code": "429"}}))
    server.reply_stream(text_stream("fine"))
    assert "".join(c.text for c in make_model(max_retries=1).stream("Hi")) == "fine"
    assert len(server.requests) == 2


async def test_async_error_event_before_the_first_chunk_is_retried(
    server: ScriptedServer, make_model: Make
) -> None:
    from tests.scripted_server import sse

    server.reply_stream(sse({"error": {"message": "upstream 503", "code": 503}}))
    server.reply_stream(text_stream("fine"))
    chunks = [c async for c in make_model(max_retries=1).astream("Hi")]
    assert "".join(c.text for c in chunks) == "fine"
    assert len(server.requests) == 2


def test_error_event_after_a_chunk_raises_without_retry(
    server: ScriptedServer, make_model: Make
) -> None:
    from tests.scripted_server import chunk, sse

    server.reply_stream(sse(chunk({"content": "par"}), {"error": {"message": "boom", "code": 503}}))
    server.reply_stream(text_stream("never"))
    with pytest.raises(NebulaServerError, match="boom"):
        list(make_model(max_retries=3).stream("Hi"))
    assert len(server.requests) == 1


def test_client_error_events_are_not_retried(server: ScriptedServer, make_model: Make) -> None:
    from langchain_nebula import NebulaBadRequestError
    from tests.scripted_server import sse

    server.reply_stream(sse({"error": {"message": "bad schema", "code": 400}}))
    with pytest.raises(NebulaBadRequestError):
        list(make_model(max_retries=3).stream("Hi"))
    assert len(server.requests) == 1


def test_a_stale_pooled_connection_is_resent_at_once(
    server: ScriptedServer, make_model: Make
) -> None:
    # llama.cpp closes keep-alive connections after a stream; the next request on the
    # pooled connection then sees the server hang up without a response. It never
    # reached the server, so it is resent at once, even with max_retries=0.
    model = make_model(max_retries=0)
    server.reply_json(completion("first"))
    assert model.invoke("Hi").content == "first"
    server.replies.append(Reply(hang_up=True))
    server.reply_json(completion("resent"))
    started = time.monotonic()
    assert model.invoke("Hi").content == "resent"
    assert time.monotonic() - started < 0.4  # no backoff
    assert len(server.requests) == 3
    assert server.requests[1].peer == server.requests[0].peer  # the reused connection
    assert server.requests[2].peer != server.requests[1].peer


def test_a_new_connection_closed_without_an_answer_is_not_resent(
    server: ScriptedServer, make_model: Make
) -> None:
    from langchain_nebula import NebulaConnectionError

    # On a fresh connection the server may have done the work before hanging up:
    # max_retries=0 means exactly one request reaches it.
    server.replies.append(Reply(hang_up=True))
    server.reply_json(completion("never"))
    with pytest.raises(NebulaConnectionError, match="without sending a response"):
        make_model(max_retries=0).invoke("Hi")
    assert len(server.requests) == 1


def test_a_server_that_keeps_hanging_up_still_fails(
    server: ScriptedServer, make_model: Make
) -> None:
    from langchain_nebula import NebulaConnectionError

    model = make_model(max_retries=0)
    server.reply_json(completion("first"))
    model.invoke("Hi")
    for _ in range(3):
        server.replies.append(Reply(hang_up=True))
    with pytest.raises(NebulaConnectionError, match="without sending a response"):
        model.invoke("Hi")
    assert len(server.requests) == 3  # the first, one on the reused connection, one resend
