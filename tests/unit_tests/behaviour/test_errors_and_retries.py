"""Failures become typed errors; transient ones are retried, all in bounded time."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable

import pytest
from langchain_core.exceptions import (
    ContextOverflowError,
    ModelAPIError,
    ModelAuthenticationError,
    ModelInvalidRequestError,
    ModelNotFoundError,
    ModelPermissionDeniedError,
    ModelRateLimitError,
)

from langchain_nebula import (
    ChatNebula,
    NebulaAuthenticationError,
    NebulaBadRequestError,
    NebulaConnectionError,
    NebulaContextOverflowError,
    NebulaError,
    NebulaNotFoundError,
    NebulaRateLimitError,
    NebulaServerError,
    NebulaTimeoutError,
)
from tests.scripted_server import Reply, ScriptedServer, completion, text_stream

Make = Callable[..., ChatNebula]
RATE_LIMITED = {"error": {"message": "slow down", "code": "429"}}

VLLM_NOT_FOUND = {
    "object": "error",
    "message": "The model `nope` does not exist.",
    "type": "NotFoundError",
    "param": None,
    "code": 404,
}
LITELLM_AUTH = {
    "error": {
        "message": "Authentication Error, invalid key",
        "type": "auth_error",
        "param": "None",
        "code": "401",
    }
}
OVERFLOW = {
    "object": "error",
    "message": "This model's maximum context length is 32768 tokens. However, you requested "
    "40000 tokens (39000 in the messages, 1000 in the completion). Please reduce the length "
    "of the messages or completion.",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}


@pytest.mark.parametrize(
    ("status", "body", "nebula_type", "core_type", "message"),
    [
        (
            404,
            VLLM_NOT_FOUND,
            NebulaNotFoundError,
            ModelNotFoundError,
            "The model `nope` does not exist.",
        ),
        (
            401,
            LITELLM_AUTH,
            NebulaAuthenticationError,
            ModelAuthenticationError,
            "Authentication Error, invalid key",
        ),
        (
            403,
            {"error": {"message": "Forbidden model", "code": "403"}},
            NebulaError,
            ModelPermissionDeniedError,
            "Forbidden model",
        ),
        (
            400,
            {"error": {"code": 400, "message": "bad body", "type": "invalid_request_error"}},
            NebulaBadRequestError,
            ModelInvalidRequestError,
            "bad body",
        ),
        (
            422,
            {"detail": [{"loc": ["body", "messages"], "msg": "field required"}]},
            NebulaBadRequestError,
            ModelInvalidRequestError,
            "field required",
        ),
        (
            400,
            OVERFLOW,
            NebulaContextOverflowError,
            ContextOverflowError,
            "maximum context length is 32768",
        ),
        (
            429,
            {"error": {"message": "Too many requests", "code": "429"}},
            NebulaError,
            ModelRateLimitError,
            "Too many requests",
        ),
        (
            503,
            {"error": "upstream unavailable"},
            NebulaServerError,
            ModelAPIError,
            "upstream unavailable",
        ),
    ],
)
def test_error_shapes_map_to_typed_errors_with_the_server_message(
    server: ScriptedServer,
    make_model: Make,
    status: int,
    body: dict[str, object],
    nebula_type: type[Exception],
    core_type: type[Exception],
    message: str,
) -> None:
    server.reply_json(body, status=status, headers={"x-request-id": "req-123"})
    with pytest.raises(core_type) as caught:
        make_model().invoke("Hi")
    error = caught.value
    assert isinstance(error, nebula_type)
    assert isinstance(error, NebulaError)
    assert error.status_code == status
    assert error.request_id == "req-123"
    assert message in error.message
    assert str(status) in str(error)
    assert "req-123" in str(error)


def test_context_overflow_is_also_an_invalid_request(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(OVERFLOW, status=400)
    with pytest.raises(ModelInvalidRequestError):
        make_model().invoke("Hi")


def test_empty_200_body_is_an_error_not_an_empty_answer(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_raw(b"", status=200, content_type="application/json")
    with pytest.raises(NebulaServerError, match="empty body"):
        make_model().invoke("Hi")


def test_200_without_choices_is_an_error(server: ScriptedServer, make_model: Make) -> None:
    server.reply_json({"id": "x", "choices": []})
    with pytest.raises(NebulaServerError, match="no choices"):
        make_model().invoke("Hi")


def test_no_key_is_fine_for_a_server_that_needs_none(server: ScriptedServer) -> None:
    server.reply_json(completion("local"))
    model = ChatNebula(base_url=server.base_url)
    assert model.invoke("Hi").content == "local"
    assert "authorization" not in server.requests[0].headers


def test_server_errors_are_retried_then_succeed(server: ScriptedServer, make_model: Make) -> None:
    server.reply_json(
        {"error": {"message": "boom", "code": 500}}, status=500, headers={"Retry-After": "0"}
    )
    server.reply_json(
        {"error": {"message": "busy", "code": 503}}, status=503, headers={"retry-after-ms": "0"}
    )
    server.reply_json(completion("finally"))
    assert make_model(max_retries=2).invoke("Hi").content == "finally"
    assert len(server.requests) == 3


def test_retries_exhausted_makes_max_retries_plus_one_attempts(
    server: ScriptedServer, make_model: Make
) -> None:
    for _ in range(4):
        server.reply_json(
            {"error": {"message": "rate", "code": "429"}}, status=429, headers={"Retry-After": "0"}
        )
    with pytest.raises(ModelRateLimitError):
        make_model(max_retries=2).invoke("Hi")
    assert len(server.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_client_errors_are_not_retried(
    server: ScriptedServer, make_model: Make, status: int
) -> None:
    for _ in range(3):
        server.reply_json({"error": {"message": "no", "code": status}}, status=status)
    with pytest.raises(NebulaError):
        make_model(max_retries=2).invoke("Hi")
    assert len(server.requests) == 1


def test_retry_after_beyond_the_cap_fails_at_once(server: ScriptedServer, make_model: Make) -> None:
    server.reply_json(
        {"error": {"message": "slow down", "code": "429"}},
        status=429,
        headers={"Retry-After": "3600"},
    )
    with pytest.raises(ModelRateLimitError, match="3600 s"):
        make_model(max_retries=2).invoke("Hi")
    assert len(server.requests) == 1


def test_stream_open_failures_are_retried(server: ScriptedServer, make_model: Make) -> None:
    from tests.scripted_server import text_stream

    server.reply_json(
        {"error": {"message": "boom", "code": 502}}, status=502, headers={"Retry-After": "0"}
    )
    server.reply_stream(text_stream("ok"))
    assert "".join(c.text for c in make_model(max_retries=1).stream("Hi")) == "ok"
    assert len(server.requests) == 2


async def test_async_retries_follow_the_same_policy(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(
        {"error": {"message": "boom", "code": 500}}, status=500, headers={"Retry-After": "0"}
    )
    server.reply_json(completion("async ok"))
    assert (await make_model(max_retries=1).ainvoke("Hi")).content == "async ok"
    for _ in range(2):
        server.reply_json({"error": {"message": "no", "code": 400}}, status=400)
    with pytest.raises(NebulaBadRequestError):
        await make_model(max_retries=3).ainvoke("Hi")
    assert len(server.requests) == 3


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_connection_refused_is_a_connection_error() -> None:
    model = ChatNebula(base_url=f"http://127.0.0.1:{_closed_port()}/v1", max_retries=0)
    with pytest.raises(NebulaConnectionError):
        model.invoke("Hi")


async def test_async_connection_refused_is_a_connection_error() -> None:
    model = ChatNebula(base_url=f"http://127.0.0.1:{_closed_port()}/v1", max_retries=0)
    with pytest.raises(NebulaConnectionError):
        await model.ainvoke("Hi")


def test_read_timeout_is_a_timeout_error(server: ScriptedServer, make_model: Make) -> None:
    import threading

    from tests.scripted_server import Reply

    release = threading.Event()
    server.replies.append(
        Reply(
            200,
            {"Content-Type": "application/json"},
            json.dumps(completion()).encode(),
            hold=release,
        )
    )
    try:
        with pytest.raises(NebulaTimeoutError):
            make_model(timeout=0.2).invoke("Hi")
    finally:
        release.set()


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


def test_rate_limit_errors_report_the_requested_wait(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(RATE_LIMITED, status=429, headers={"Retry-After": "7"})
    with pytest.raises(NebulaRateLimitError) as caught:
        make_model(max_retries=0).invoke("Hi")
    assert caught.value.retry_after == 7.0


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
