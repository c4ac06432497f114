"""Pins of how a failed attempt becomes a typed error, over real sockets.

A transport failure keeps the library's error as its cause (without frames); an error
response's body is decoded, capped and read no further than needed; a 2xx body that
is not a JSON object is named; and whatever a stream's parser raises leaves scrubbed.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from langchain_nebula._http.client import NebulaClient
from langchain_nebula._http.failures import ERROR_BODY_LIMIT, error_from_transport
from langchain_nebula._http.libraries import LIBRARIES
from langchain_nebula.errors import (
    NebulaConnectionError,
    NebulaError,
    NebulaResponseError,
    NebulaServerError,
    NebulaStreamError,
)
from tests.conftest import API_KEY
from tests.scripted_server import Reply, ScriptedServer, sse
from tests.unit_tests.http.scripted_calls import Lines, Parsers, Run, both, nebula

JSON = {"Content-Type": "application/json"}


def get(client: NebulaClient, sync: bool) -> dict[str, Any]:
    """``get_json``, or ``aget_json`` run on a fresh loop."""
    if sync:
        return client.get_json("/models")[0]
    return asyncio.run(client.aget_json("/models"))[0]


def failure(client: NebulaClient, sync: bool) -> NebulaError:
    with pytest.raises(NebulaError) as caught:
        get(client, sync)
    return caught.value


calls = pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])


def _links(error: BaseException) -> Iterator[BaseException]:
    """Every error linked below ``error`` (causes and contexts), each once."""
    seen, todo = {id(error)}, [error]
    while todo:
        linked = todo.pop()
        for other in (linked.__cause__, linked.__context__):
            if other is not None and id(other) not in seen:
                seen.add(id(other))
                todo.append(other)
                yield other


# -- transport failures ---------------------------------------------------------------


@pytest.fixture
def refusing() -> Iterator[str]:
    """The base URL of a port with nothing listening: every connection is refused."""
    with socket.socket() as bound:  # bound, never listening: the port stays ours
        bound.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{bound.getsockname()[1]}/v1"


@calls
def test_a_refused_connection_keeps_the_library_error_as_its_cause(
    refusing: str, sync: bool
) -> None:
    error = failure(nebula(refusing), sync)
    assert type(error) is NebulaConnectionError
    assert error.message.startswith("could not reach the server (ConnectError: ")
    cause = error.__cause__
    assert type(cause) in tuple(library.ConnectError for library in LIBRARIES)
    assert error.__context__ is None
    assert error.__suppress_context__
    assert [link.__traceback__ for link in _links(error)] == [None] * len(list(_links(error)))


@both
def test_a_refused_stream_keeps_the_library_error_as_its_cause(refusing: str, run: Run) -> None:
    items, error = run(nebula(refusing), Parsers(), None)
    assert items == []
    assert type(error) is NebulaConnectionError
    assert type(error.__cause__).__name__ == "ConnectError"
    assert all(link.__traceback__ is None for link in _links(error))


@calls
def test_a_body_cut_short_is_a_connection_error_caused_by_the_library_error(
    server: ScriptedServer, sync: bool
) -> None:
    server.replies.append(Reply(200, JSON, pieces=[b'{"data": ', b"[1, 2]}"], cut_after=1))
    error = failure(nebula(server.base_url), sync)
    assert type(error) is NebulaConnectionError
    assert error.message.startswith("server closed the connection: peer closed connection")
    assert type(error.__cause__).__name__ == "RemoteProtocolError"
    assert not error.unsent


@both
def test_a_stream_cut_after_an_item_keeps_its_cause(server: ScriptedServer, run: Run) -> None:
    server.reply_stream(sse("a", "b"), cut_after=1)
    items, error = run(nebula(server.base_url), Parsers(), None)
    assert items == ["a"]
    assert type(error) is NebulaConnectionError
    assert type(error.__cause__).__name__ == "RemoteProtocolError"
    assert error.__context__ is None


def test_a_failure_named_alone_was_sent() -> None:
    for library in LIBRARIES:
        closed = library.RemoteProtocolError("Server disconnected without sending a response.")
        assert error_from_transport(closed).unsent is False


# -- 2xx bodies that are not answers ------------------------------------------------


@calls
def test_a_2xx_body_that_is_not_json_is_named_by_its_first_200_bytes(
    server: ScriptedServer, sync: bool
) -> None:
    body = b"<html>\xff" + f"key {API_KEY} ".encode() + b"x" * 300
    server.reply_raw(body, content_type="text/html")
    server.reply_raw(body, content_type="text/html")
    client = nebula(server.base_url, max_retries=1, retry_accepted_requests=True)
    error = failure(client, sync)
    snippet = body[:200].decode("utf-8", "replace").replace(API_KEY, "***")
    assert snippet.startswith("<html>\ufffdkey *** xxx")
    assert type(error) is NebulaResponseError
    assert error.message == f"the server answered 200 with a non-JSON body: {snippet!r}"
    assert error.body == snippet
    assert error.retryable
    assert len(server.requests) == 2  # retryable: sent again once


@calls
def test_an_empty_2xx_body_is_named_empty(server: ScriptedServer, sync: bool) -> None:
    server.reply_raw(b" \n", content_type="application/json")
    error = failure(nebula(server.base_url), sync)
    assert type(error) is NebulaResponseError
    assert error.message == "the server answered 200 with an empty body"
    assert error.body == " \n"


@calls
def test_a_2xx_json_that_is_not_an_object_is_named_and_not_retried(
    server: ScriptedServer, sync: bool
) -> None:
    answer = [API_KEY, *range(100)]
    server.reply_json(answer)
    client = nebula(server.base_url, max_retries=1, retry_accepted_requests=True)
    error = failure(client, sync)
    assert type(error) is NebulaResponseError
    assert error.message == "the server answered 200 with a JSON list, not an object"
    assert error.body == str(answer)[:200].replace(API_KEY, "***")
    assert not error.retryable
    assert len(server.requests) == 1


# -- error responses ------------------------------------------------------------------


def _error(message: str, padding: int = 0) -> bytes:
    return b'{"error": {"message": "' + message.encode() + b'"}' + b" " * padding + b"}"


@calls
def test_a_gzipped_error_body_is_decoded(server: ScriptedServer, sync: bool) -> None:
    server.reply_raw(
        gzip.compress(_error("overloaded")),
        status=500,
        content_type="application/json",
        headers={"Content-Encoding": "gzip"},
    )
    error = failure(nebula(server.base_url), sync)
    assert type(error) is NebulaServerError
    assert error.message == "overloaded"


@calls
def test_an_error_body_inflating_past_the_limit_is_cut_not_refused(
    server: ScriptedServer, sync: bool
) -> None:
    body = _error("overloaded", padding=ERROR_BODY_LIMIT - len(_error("overloaded")))
    assert len(body) == ERROR_BODY_LIMIT
    server.reply_raw(
        gzip.compress(body + b" " * 1000),
        status=500,
        content_type="application/json",
        headers={"Content-Encoding": "gzip"},
    )
    error = failure(nebula(server.base_url), sync)
    assert error.message == "overloaded"


@calls
def test_an_error_body_that_does_not_decode_is_kept_as_sent(
    server: ScriptedServer, sync: bool
) -> None:
    server.reply_raw(
        _error("mislabelled"),
        status=500,
        content_type="application/json",
        headers={"Content-Encoding": "gzip"},
    )
    error = failure(nebula(server.base_url), sync)
    assert error.message == "mislabelled"


@calls
def test_an_error_body_in_pieces_is_joined(server: ScriptedServer, sync: bool) -> None:
    pieces = [b'{"error": {"message": "in ', b'three pieces"', b"}}"]
    server.replies.append(Reply(503, JSON, pieces=pieces))
    error = failure(nebula(server.base_url), sync)
    assert error.message == "in three pieces"
    assert error.status_code == 503


@calls
def test_an_error_body_is_read_up_to_its_limit_and_no_further(
    server: ScriptedServer, sync: bool
) -> None:
    # 64 KiB less one byte, then the byte that completes the JSON and the body: reading
    # stops at exactly 64 KiB, before the body's end, so the connection is not reused.
    body = _error("overloaded", padding=ERROR_BODY_LIMIT - len(_error("overloaded")))
    pieces = [body[:-1], body[-1:]]
    server.replies.append(Reply(500, JSON, pieces=pieces))
    server.reply_json({"ok": True})

    async def both_calls(client: NebulaClient) -> NebulaError:
        with pytest.raises(NebulaError) as caught:
            await client.aget_json("/models")
        assert (await client.aget_json("/models"))[0] == {"ok": True}
        return caught.value

    client = nebula(server.base_url)
    if sync:
        error = failure(client, sync)
        assert get(client, sync) == {"ok": True}
    else:
        error = asyncio.run(both_calls(client))
    assert error.message == "overloaded"
    first, second = server.requests
    assert first.peer != second.peer


# -- what a stream's parser raises ----------------------------------------------------


class Careless(Lines):
    """A parser whose errors carry the key in every field, and links chosen by the event."""

    def feed(self, data: bytes) -> str | None:
        text = data.decode()
        if not text.startswith("fail:"):
            return super().feed(data)
        echo = f"event {text} from {API_KEY}"
        error = NebulaStreamError(
            echo, body={"event": echo}, raw_message=echo, code=echo, request_id=echo
        )
        how = text.removeprefix("fail:")
        if how == "decode":  # the key only in the JSON error's document
            try:
                json.loads(f"<{API_KEY}>")
            except ValueError as exc:
                raise error from exc
        if how == "plain":
            raise error from ValueError("no secret here")
        if how == "chain":  # a cause without the key, whose context has it
            cause = ValueError("no secret here")
            cause.__context__ = KeyError(API_KEY)
            raise error from cause
        if how == "loop":  # links that go round in a circle
            cause, other = ValueError("no secret here"), ValueError("nor here")
            cause.__context__, other.__context__ = other, cause
            raise error from cause
        raise error


MASKED = "event fail:{how} from ***"


@both
@pytest.mark.parametrize("how", ["decode", "plain", "chain", "loop", "bare"])
def test_a_parser_error_leaves_with_the_key_masked_in_every_field(
    server: ScriptedServer, run: Run, how: str
) -> None:
    server.reply_stream(sse("a", f"fail:{how}"))
    items, error = run(nebula(server.base_url), Parsers(Careless), None)
    assert items == ["a"]
    assert type(error) is NebulaStreamError
    masked = MASKED.format(how=how)
    assert (error.message, error.raw_message, error.code, error.request_id) == (masked,) * 4
    assert error.body == {"event": masked}
    assert error.args == (masked,)
    assert error.__context__ is None  # hidden by ``from``: dropped
    assert all(link.__traceback__ is None for link in _links(error))


@both
def test_a_parser_errors_cause_holding_the_key_in_an_attribute_is_dropped(
    server: ScriptedServer, run: Run
) -> None:
    server.reply_stream(sse("fail:decode"))
    _, error = run(nebula(server.base_url), Parsers(Careless), None)
    assert error is not None
    assert error.__cause__ is None


@both
def test_a_parser_errors_cause_without_the_key_is_kept(server: ScriptedServer, run: Run) -> None:
    server.reply_stream(sse("fail:plain"))
    _, error = run(nebula(server.base_url), Parsers(Careless), None)
    assert error is not None
    assert repr(error.__cause__) == "ValueError('no secret here')"


@both
def test_links_below_the_cause_are_scrubbed_too(server: ScriptedServer, run: Run) -> None:
    server.reply_stream(sse("fail:chain"))
    _, error = run(nebula(server.base_url), Parsers(Careless), None)
    assert error is not None
    cause = error.__cause__
    assert repr(cause) == "ValueError('no secret here')"
    assert cause is not None
    assert cause.__context__ is None  # it held the key


@both
def test_a_link_back_to_the_error_ends_the_scrub(server: ScriptedServer, run: Run) -> None:
    server.reply_stream(sse("fail:loop"))
    _, error = run(nebula(server.base_url), Parsers(Careless), None)
    assert error is not None
    cause = error.__cause__
    assert repr(cause) == "ValueError('no secret here')"
    assert cause is not None
    assert repr(cause.__context__) == "ValueError('nor here')"
    assert cause.__context__.__context__ is cause


# -- a connection closed without an answer (async; behaviour/ pins sync) -------------


def test_an_async_request_on_a_reused_connection_closed_unanswered_is_resent_at_once(
    server: ScriptedServer,
) -> None:
    server.reply_json({"n": 1})
    server.replies.append(Reply(hang_up=True))
    server.reply_json({"n": 2})
    client = nebula(server.base_url)  # max_retries=0: the resend is not a retry

    async def scenario() -> list[dict[str, Any]]:
        return [(await client.apost_json("/x", b"{}"))[0] for _ in range(2)]

    assert asyncio.run(scenario()) == [{"n": 1}, {"n": 2}]
    first, reused, resent = server.requests
    assert reused.peer == first.peer
    assert resent.peer != reused.peer


def test_an_async_request_on_a_new_connection_closed_unanswered_is_not_resent(
    server: ScriptedServer,
) -> None:
    server.replies.append(Reply(hang_up=True))
    server.reply_json({"never": True})
    with pytest.raises(NebulaConnectionError) as caught:
        asyncio.run(nebula(server.base_url).apost_json("/x", b"{}"))
    assert caught.value.message == (
        "server closed the connection: Server disconnected without sending a response."
    )
    assert not caught.value.unsent
    assert len(server.requests) == 1
