"""HTTP transport: requests, retries and the sync/async I/O, over httpx clients.

It moves bytes and knows nothing of chat: a JSON call returns the decoded object and
the response headers; a streamed call decodes the body into event payloads and feeds
each to a parser the caller supplies (``EventParser``), yielding what the parser
makes. HTTP failures become typed errors here, through ``langchain_nebula.errors``.
The retry decision (``retry``), body decoding (``decoding``), the waits
(``timeouts``) and the per-piece stream pump are pure and shared: the sync and async
functions differ only in the lines that do I/O.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from types import ModuleType
from typing import Any, TypeVar

from langchain_nebula._http.decoding import EventReader, Inflater
from langchain_nebula._http.endpoint import Endpoint
from langchain_nebula._http.events import EventParser, EventPipeline
from langchain_nebula._http.failures import (
    ConnectWatch,
    ErrorBody,
    decode_json_body,
    error_from_transport,
    error_response,
    scrubbed,
    transport_failure,
)
from langchain_nebula._http.libraries import (
    HTTP_ERRORS,
    LIBRARIES,
    READ_TIMEOUTS,
    AsyncClient,
    Request,
    Response,
    SyncClient,
    library_of,
)
from langchain_nebula._http.retry import Retrying
from langchain_nebula._http.timeouts import ReadRule, Timeouts
from langchain_nebula._redaction import Redactor
from langchain_nebula.errors import (
    NebulaError,
    too_large_error,
)

__all__ = [
    "EventParser",
    "asend_json",
    "astream_events",
    "decode_json_body",
    "error_from_transport",
    "send_json",
    "stream_events",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


# -- what a stream is fed to ----------------------------------------------------------


# -- one attempt ----------------------------------------------------------------------


_WAIT_NAMES = ("connect", "read", "write", "pool")


def _limit_to_deadline(request: Request, retrying: Retrying, rule: ReadRule) -> ReadRule:
    """Bounds each of the attempt's waits by the time left before ``total_timeout``.

    Returns the rule that now bounds the read wait.
    """
    left = retrying.remaining()
    if left is None:
        return rule
    current = request.extensions.get("timeout") or {}
    waits = tuple(current.get(name) for name in _WAIT_NAMES)
    bounded, rule = Timeouts.for_attempt(waits, rule, left)  # type: ignore[arg-type]
    request.extensions["timeout"] = dict(zip(_WAIT_NAMES, bounded, strict=True))
    return rule


def _replay_class(library: ModuleType) -> type:
    class Replay(library.SyncByteStream, library.AsyncByteStream):  # type: ignore[name-defined,misc]
        """A body already in memory, served as a stream."""

        def __init__(self, content: bytes) -> None:
            self._content = content

        def __iter__(self) -> Iterator[bytes]:
            yield self._content

        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield self._content

    return Replay


_REPLAYS = {library: _replay_class(library) for library in LIBRARIES}


def _streamable(response: Response) -> Response:
    """The response as an unread stream, so one reading path serves every response.

    httpx reads a mock transport's answers on creation; those are served again from
    memory, already decoded.
    """
    if not response.is_stream_consumed:
        return response
    library = library_of(response)
    headers = [
        (name, value)
        for name, value in response.headers.multi_items()
        if name.lower() not in ("content-encoding", "content-length")  # decoded already
    ]
    replayed: Response = library.Response(
        response.status_code,
        headers=headers,
        stream=_REPLAYS[library](response.content),
        request=response.request,
        extensions=response.extensions,
    )
    return replayed


def _check_length(response: Response, limit: int) -> None:
    length = response.headers.get("content-length")
    if length is not None and length.isascii() and length.isdigit() and int(length) > limit:
        raise too_large_error(limit)


def _open(client: SyncClient, request: Request, endpoint: Endpoint) -> Response:
    watch = ConnectWatch()
    request.extensions["trace"] = watch
    try:
        response = _streamable(client.send(request, stream=True))
    except HTTP_ERRORS as exc:
        failure = transport_failure(exc, endpoint, watch)
        raise failure from failure.__cause__
    if response.is_success:
        return response
    kept = ErrorBody()
    try:
        for raw in response.iter_raw():
            if kept.add(raw):
                break
    except HTTP_ERRORS:
        pass  # the status alone still classifies the failure
    finally:
        response.close()
    raise error_response(response, kept.raws, endpoint)


async def _aopen(client: AsyncClient, request: Request, endpoint: Endpoint) -> Response:
    watch = ConnectWatch()
    request.extensions["trace"] = watch.atrace
    try:
        response = _streamable(await client.send(request, stream=True))
    except HTTP_ERRORS as exc:
        failure = transport_failure(exc, endpoint, watch)
        raise failure from failure.__cause__
    if response.is_success:
        return response
    kept = ErrorBody()
    try:
        async for raw in response.aiter_raw():
            if kept.add(raw):
                break
    except HTTP_ERRORS:
        pass  # the status alone still classifies the failure
    finally:
        await response.aclose()
    raise error_response(response, kept.raws, endpoint)


def _answer(
    body: bytes, response: Response, redactor: Redactor
) -> tuple[dict[str, Any], Mapping[str, str]]:
    """The JSON object of a 2xx body and the headers, with the key masked if echoed.

    A server echoing the request (headers included) would otherwise carry the key
    into whatever error, log, traceback or ``response_metadata`` later quotes the
    answer. ``may_hold`` costs a few substring searches, so answers without a trace
    of the key (or of JSON escapes, which may spell it) are neither walked nor copied.
    """
    answer = decode_json_body(body, redactor)
    headers: Mapping[str, str] = response.headers
    if not redactor:
        return answer, headers
    # JSON may spell any character as a ``\u`` escape: decoded, that is the key.
    if redactor.may_hold(body) or b"\\u" in body:
        answer = redactor.value(answer)
    if redactor.may_hold(b"\n".join(value for _, value in response.headers.raw)):
        headers = type(response.headers)(
            [(name, redactor.text(value)) for name, value in response.headers.multi_items()]
        )
    return answer, headers


def _read(response: Response, endpoint: Endpoint) -> tuple[dict[str, Any], Mapping[str, str]]:
    pieces: list[bytes] = []
    try:
        _check_length(response, endpoint.max_response_bytes)
        inflater = Inflater(response.headers.get("content-encoding"), endpoint.max_response_bytes)
        for raw in response.iter_raw():
            pieces.extend(inflater.feed(raw))
        pieces.extend(inflater.end())
    except HTTP_ERRORS as exc:
        failure = transport_failure(exc, endpoint)
        raise failure from failure.__cause__
    finally:
        response.close()
    return _answer(b"".join(pieces), response, endpoint.redactor)


async def _aread(
    response: Response, endpoint: Endpoint
) -> tuple[dict[str, Any], Mapping[str, str]]:
    pieces: list[bytes] = []
    try:
        _check_length(response, endpoint.max_response_bytes)
        inflater = Inflater(response.headers.get("content-encoding"), endpoint.max_response_bytes)
        async for raw in response.aiter_raw():
            pieces.extend(inflater.feed(raw))
        pieces.extend(inflater.end())
    except HTTP_ERRORS as exc:
        failure = transport_failure(exc, endpoint)
        raise failure from failure.__cause__
    finally:
        await response.aclose()
    return _answer(b"".join(pieces), response, endpoint.redactor)


# -- whole calls ----------------------------------------------------------------------
# Each attempt has two halves. Until the server answers 2xx, a failure is retried per
# policy. After it, the server has accepted the request and may be generating (and
# billing) the answer: only a failure it reports with a status of its own is retried
# (``Retrying.wait_or_raise(..., accepted=True)``), and a stream that has yielded
# anything never is.


def send_json(
    client: SyncClient, endpoint: Endpoint, body: bytes
) -> tuple[dict[str, Any], Mapping[str, str]]:
    """Sends ``body``; returns the JSON answer and the response headers, retrying per policy."""
    request, rule = endpoint.build_request(client, body, stream=False)
    retrying = endpoint.retry.begin()
    while True:
        try:
            _limit_to_deadline(request, retrying, rule)
            response = _open(client, request, endpoint)
        except NebulaError as error:
            time.sleep(retrying.wait_or_raise(scrubbed(error, endpoint.redactor)))
            continue
        try:
            return _read(response, endpoint)
        except NebulaError as error:
            failure = scrubbed(error, endpoint.redactor)
            time.sleep(retrying.wait_or_raise(failure, accepted=True))


async def asend_json(
    client: AsyncClient, endpoint: Endpoint, body: bytes
) -> tuple[dict[str, Any], Mapping[str, str]]:
    """Async ``send_json``."""
    request, rule = endpoint.build_request(client, body, stream=False)
    retrying = endpoint.retry.begin()
    while True:
        try:
            _limit_to_deadline(request, retrying, rule)
            response = await _aopen(client, request, endpoint)
        except NebulaError as error:
            await asyncio.sleep(retrying.wait_or_raise(scrubbed(error, endpoint.redactor)))
            continue
        try:
            return await _aread(response, endpoint)
        except NebulaError as error:
            failure = scrubbed(error, endpoint.redactor)
            await asyncio.sleep(retrying.wait_or_raise(failure, accepted=True))


def stream_events(
    client: SyncClient,
    endpoint: Endpoint,
    body: bytes,
    new_parser: Callable[[Mapping[str, str]], EventParser[T]],
) -> Iterator[T]:
    """Streams a response's events through a fresh parser per attempt, yielding its output.

    A failure before the server answers 2xx (refused, 5xx) is retried like any
    request; after it, only an error event naming a retryable status before anything
    was yielded (LiteLLM's in-band 429 when its upstream is rate limited: nothing was
    generated). Once something has been yielded, a failure raises after every item
    made before it: nothing is ever repeated.
    """
    request, request_rule = endpoint.build_request(client, body, stream=True)
    retrying = endpoint.retry.begin()
    while True:
        try:
            rule = _limit_to_deadline(request, retrying, request_rule)
            response = _open(client, request, endpoint)
        except NebulaError as error:
            time.sleep(retrying.wait_or_raise(scrubbed(error, endpoint.redactor)))
            continue
        pump: EventPipeline[T] | None = None
        try:
            try:
                reader = endpoint.event_reader(response.headers, retrying.deadline)
                pump = EventPipeline(new_parser(response.headers), reader)
                for raw in response.iter_raw():
                    yield from pump.feed(raw)
                    if pump.done:
                        return
                yield from pump.end()
                return
            except HTTP_ERRORS as exc:
                if pump is not None:
                    yield from pump.held()
                failed = _stream_failed(exc, endpoint, rule, reader)
                raise failed from failed.__cause__
            finally:
                response.close()
        except NebulaError as error:
            # The last bytes read may echo the key: out of this frame's locals, which
            # a traceback printed with locals (or an error tracker) would show.
            raw = b""
            failure = scrubbed(error, endpoint.redactor)
            if pump is not None and pump.yielded:
                raise failure from failure.__cause__
            time.sleep(retrying.wait_or_raise(failure, accepted=True))


async def astream_events(
    client: AsyncClient,
    endpoint: Endpoint,
    body: bytes,
    new_parser: Callable[[Mapping[str, str]], EventParser[T]],
) -> AsyncIterator[T]:
    """Async ``stream_events``."""
    request, request_rule = endpoint.build_request(client, body, stream=True)
    retrying = endpoint.retry.begin()
    while True:
        try:
            rule = _limit_to_deadline(request, retrying, request_rule)
            response = await _aopen(client, request, endpoint)
        except NebulaError as error:
            await asyncio.sleep(retrying.wait_or_raise(scrubbed(error, endpoint.redactor)))
            continue
        pump: EventPipeline[T] | None = None
        try:
            try:
                reader = endpoint.event_reader(response.headers, retrying.deadline)
                pump = EventPipeline(new_parser(response.headers), reader)
                async for raw in response.aiter_raw():
                    for item in pump.feed(raw):
                        yield item
                    if pump.done:
                        return
                for item in pump.end():
                    yield item
                return
            except HTTP_ERRORS as exc:
                for item in pump.held() if pump is not None else ():
                    yield item
                failed = _stream_failed(exc, endpoint, rule, reader)
                raise failed from failed.__cause__
            finally:
                await response.aclose()
        except NebulaError as error:
            # The last bytes read may echo the key: out of this frame's locals, which
            # a traceback printed with locals (or an error tracker) would show.
            raw = b""
            failure = scrubbed(error, endpoint.redactor)
            if pump is not None and pump.yielded:
                raise failure from failure.__cause__
            await asyncio.sleep(retrying.wait_or_raise(failure, accepted=True))


def _stream_failed(
    exc: Exception, endpoint: Endpoint, rule: ReadRule, reader: EventReader
) -> NebulaError:
    if isinstance(exc, READ_TIMEOUTS) and rule == "stall":
        return reader.stalled()
    return transport_failure(exc, endpoint)
