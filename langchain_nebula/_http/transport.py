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
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

from langchain_nebula._http.decoding import EventReader, Inflater
from langchain_nebula._http.endpoint import Endpoint
from langchain_nebula._http.libraries import (
    HTTP_ERRORS,
    LIBRARIES,
    LOCAL_ERRORS,
    READ_TIMEOUTS,
    REMOTE_PROTOCOL_ERRORS,
    TIMEOUTS,
    AsyncClient,
    Request,
    Response,
    SyncClient,
    library_of,
)
from langchain_nebula._http.retry import Retrying
from langchain_nebula._http.timeouts import ReadRule, Timeouts
from langchain_nebula._redaction import Redactor
from langchain_nebula._wire.json_codec import decode_json
from langchain_nebula.errors import (
    NebulaBadRequestError,
    NebulaConnectionError,
    NebulaError,
    NebulaResponseError,
    NebulaTimeoutError,
    error_from_response,
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

# Error bodies are read for their message only; the rest is dropped unread.
_ERROR_BODY_LIMIT = 64 * 1024


def decode_json_body(body: bytes, redactor: Redactor | None = None) -> dict[str, Any]:
    """Parses a 2xx response body, which must be a JSON object.

    Args:
        body: The decoded body.
        redactor: Masks the key in the snippet an error keeps: a server may echo the
            request, headers included, whatever its status.

    Raises:
        NebulaResponseError: If the body is empty, not JSON, nested past what Python
            can parse, or not an object.
    """
    try:
        parsed = decode_json(body)
    except (ValueError, RecursionError):
        redact = redactor or Redactor(None)
        snippet = redact.text(body[:200].decode("utf-8", "replace"))
        what = "an empty body" if not body.strip() else f"a non-JSON body: {snippet!r}"
        msg = f"the server answered 200 with {what}"
        raise NebulaResponseError(msg, body=snippet, retryable=True) from None
    if not isinstance(parsed, dict):
        msg = f"the server answered 200 with a JSON {type(parsed).__name__}, not an object"
        raise NebulaResponseError(msg, body=(redactor or Redactor(None)).text(str(parsed)[:200]))
    return parsed


# -- what a stream is fed to ----------------------------------------------------------


class EventParser(Protocol[T_co]):
    """What a streamed call feeds: one event's ``data`` at a time.

    ``feed`` returns what the event completes (or ``None``); ``done`` turns true when
    the parser needs no more input; ``end`` is called when the body ends and raises if
    the stream was cut short. The same verbs as ``SSEDecoder`` and ``ThinkTagSplitter``.
    """

    @property
    def done(self) -> bool:
        """Whether the stream's terminating event has been seen."""
        ...

    def feed(self, data: bytes) -> T_co | None:
        """Maps one event's data."""
        ...

    def end(self) -> None:
        """Called when the body ended; raises if the stream was incomplete."""
        ...


class _Pump(Generic[T]):
    """One streamed response's pipeline: body pieces → events → the parser's output.

    Each item is handed out as soon as the parser makes it: when a later event of the
    same network read raises (an error event, a malformed one), everything before it
    has already been delivered, and ``yielded`` says so.
    """

    __slots__ = ("_parser", "_reader", "yielded")

    def __init__(self, parser: EventParser[T], reader: EventReader) -> None:
        self._parser = parser
        self._reader = reader
        self.yielded = False

    @property
    def done(self) -> bool:
        """Whether the parser has seen the stream's terminating event."""
        return self._parser.done

    def feed(self, raw: bytes) -> Iterator[T]:
        """Yields what ``raw`` (a piece of the body) completes."""
        return self._run(self._reader.feed(raw))

    def end(self) -> Iterator[T]:
        """Yields what the end of the body completes; raises if it came too soon."""
        yield from self._run(self._reader.end())
        if not self._parser.done:
            self._parser.end()

    def _run(self, events: list[bytes]) -> Iterator[T]:
        parser = self._parser
        for data in events:
            item = parser.feed(data)
            if item is not None:
                self.yielded = True
                yield item
            if parser.done:
                return
        if (failure := self._reader.failure) is not None:
            raise failure  # met in the same read, after the events just handed out


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


def error_from_transport(
    exc: Exception, *, redactor: Redactor | None = None, unsent: bool = False
) -> NebulaError:
    """Maps an httpx/httpx2 failure that left no usable response to a typed error.

    Failures of our own making (a header the library cannot encode, an unsupported URL)
    are not retried: they would fail the same way every time.
    """
    redact = redactor or Redactor(None)
    kind = type(exc).__name__
    detail = redact.text(str(exc)) or kind
    if isinstance(exc, TIMEOUTS):
        return NebulaTimeoutError(f"request timed out ({kind}: {detail})")
    if isinstance(exc, REMOTE_PROTOCOL_ERRORS):
        return NebulaConnectionError(f"server closed the connection: {detail}", unsent=unsent)
    if isinstance(exc, LOCAL_ERRORS):
        return NebulaBadRequestError(f"the request could not be sent ({kind}: {detail})")
    return NebulaConnectionError(f"could not reach the server ({kind}: {detail})")


class _ConnectWatch:
    """Notices whether an attempt opened a new connection (httpcore's trace hook).

    A server closing a *reused* connection without answering never saw the request
    (it had closed the idle connection as we sent); on a new connection it may have
    done the work, so only the first case is resent.
    """

    __slots__ = ("opened",)

    def __init__(self) -> None:
        self.opened = False

    def __call__(self, event: str, info: object) -> None:
        if event == "connection.connect_tcp.started":
            self.opened = True

    async def atrace(self, event: str, info: object) -> None:
        """The async form httpcore's async pool awaits."""
        self(event, info)


def _failed(exc: Exception, endpoint: Endpoint, watch: _ConnectWatch | None = None) -> NebulaError:
    unsent = (
        watch is not None
        and isinstance(exc, REMOTE_PROTOCOL_ERRORS)
        and not watch.opened
        and "without sending a response" in str(exc)
    )
    error = error_from_transport(exc, redactor=endpoint.redactor, unsent=unsent)
    # The original stays as the cause unless its text carries the key.
    error.__cause__ = None if endpoint.redactor.text(str(exc)) != str(exc) else exc
    error.__suppress_context__ = True
    return error


class _ErrorBody:
    """The first ``_ERROR_BODY_LIMIT`` bytes of an error response, as they arrive."""

    __slots__ = ("raws", "size")

    def __init__(self) -> None:
        self.raws: list[bytes] = []
        self.size = 0

    def add(self, raw: bytes) -> bool:
        """Keeps ``raw``; returns whether enough has been read."""
        self.raws.append(raw)
        self.size += len(raw)
        return self.size >= _ERROR_BODY_LIMIT


def _error_for(response: Response, raws: list[bytes], endpoint: Endpoint) -> NebulaError:
    inflater = Inflater(response.headers.get("content-encoding"), _ERROR_BODY_LIMIT, truncate=True)
    try:
        pieces = [piece for raw in raws for piece in inflater.feed(raw)] + inflater.end()
    except NebulaError:
        pieces = raws  # an undecodable body: keep what was sent, for the record
    body = b"".join(pieces)[:_ERROR_BODY_LIMIT]
    return error_from_response(
        response.status_code,
        response.headers,
        body,
        redactor=endpoint.redactor,
        auth_hint=endpoint.auth_hint,
        host=urlsplit(endpoint.url).hostname,
    )


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
    watch = _ConnectWatch()
    request.extensions["trace"] = watch
    try:
        response = _streamable(client.send(request, stream=True))
    except HTTP_ERRORS as exc:
        raise _failed(exc, endpoint, watch) from None
    if response.is_success:
        return response
    kept = _ErrorBody()
    try:
        for raw in response.iter_raw():
            if kept.add(raw):
                break
    except HTTP_ERRORS:
        pass  # the status alone still classifies the failure
    finally:
        response.close()
    raise _error_for(response, kept.raws, endpoint)


async def _aopen(client: AsyncClient, request: Request, endpoint: Endpoint) -> Response:
    watch = _ConnectWatch()
    request.extensions["trace"] = watch.atrace
    try:
        response = _streamable(await client.send(request, stream=True))
    except HTTP_ERRORS as exc:
        raise _failed(exc, endpoint, watch) from None
    if response.is_success:
        return response
    kept = _ErrorBody()
    try:
        async for raw in response.aiter_raw():
            if kept.add(raw):
                break
    except HTTP_ERRORS:
        pass  # the status alone still classifies the failure
    finally:
        await response.aclose()
    raise _error_for(response, kept.raws, endpoint)


def _answer(
    body: bytes, response: Response, redactor: Redactor
) -> tuple[dict[str, Any], Mapping[str, str]]:
    """The JSON object of a 2xx body and the headers, with the key masked if echoed.

    A server echoing the request (headers included) would otherwise carry the key
    into whatever error, log, traceback or ``response_metadata`` later quotes the
    answer. ``may_hold`` costs a few substring searches, so answers without a trace
    of the key are neither walked nor copied.
    """
    answer = decode_json_body(body, redactor)
    headers: Mapping[str, str] = response.headers
    if not redactor:
        return answer, headers
    if redactor.may_hold(body):
        answer = redactor.value(answer)
    if redactor.may_hold(b"\n".join(value for _, value in response.headers.raw)):
        headers = type(response.headers)(
            [(name, redactor.text(value)) for name, value in response.headers.multi_items()]
        )
    return answer, headers


def _scrubbed(error: NebulaError, redactor: Redactor) -> NebulaError:
    """``error`` as it leaves the transport: no frames below the retry loop, no key.

    The frames a failure passed through hold what was read (a body, an event) and,
    in the HTTP library's own frames, the request's headers; a traceback printed with
    its locals, or an error tracker, would show them. Linked errors keep their type
    and text, not their frames, and go when their text carries the key. The error's
    own text was masked where it was built; it is masked again here, whatever path
    built it. Only failures pay for this.
    """
    error.__traceback__ = None
    seen: set[int] = set()
    linked: BaseException | None = error
    while linked is not None and id(linked) not in seen:
        seen.add(id(linked))
        if linked.__suppress_context__:
            linked.__context__ = None  # hidden by ``from``; it may hold what was read
        for attribute in ("__cause__", "__context__"):
            other = getattr(linked, attribute)
            if other is None:
                continue
            other.__traceback__ = None
            if redactor and _shows_key(other, redactor):
                setattr(linked, attribute, None)
        linked = linked.__cause__ or linked.__context__
    if redactor:
        error.message = redactor.text(error.message)
        error.body = redactor.value(error.body)
        for name in ("raw_message", "code", "request_id"):
            value = getattr(error, name)
            if isinstance(value, str):
                setattr(error, name, redactor.text(value))
        error.args = tuple(redactor.value(arg) for arg in error.args)
    return error


def _shows_key(error: BaseException, redactor: Redactor) -> bool:
    """Whether ``error``'s text or attributes (a JSON error's ``doc``) hold the key."""
    text = f"{error}{error.args!r}{getattr(error, '__dict__', {})!r}"
    return redactor.text(text) != text


def _read(response: Response, endpoint: Endpoint) -> tuple[dict[str, Any], Mapping[str, str]]:
    pieces: list[bytes] = []
    try:
        _check_length(response, endpoint.max_response_bytes)
        inflater = Inflater(response.headers.get("content-encoding"), endpoint.max_response_bytes)
        for raw in response.iter_raw():
            pieces.extend(inflater.feed(raw))
        pieces.extend(inflater.end())
    except HTTP_ERRORS as exc:
        raise _failed(exc, endpoint) from None
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
        raise _failed(exc, endpoint) from None
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
            time.sleep(retrying.wait_or_raise(_scrubbed(error, endpoint.redactor)))
            continue
        try:
            return _read(response, endpoint)
        except NebulaError as error:
            failure = _scrubbed(error, endpoint.redactor)
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
            await asyncio.sleep(retrying.wait_or_raise(_scrubbed(error, endpoint.redactor)))
            continue
        try:
            return await _aread(response, endpoint)
        except NebulaError as error:
            failure = _scrubbed(error, endpoint.redactor)
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
            time.sleep(retrying.wait_or_raise(_scrubbed(error, endpoint.redactor)))
            continue
        pump: _Pump[T] | None = None
        try:
            try:
                reader = endpoint.event_reader(response.headers, retrying.deadline)
                pump = _Pump(new_parser(response.headers), reader)
                for raw in response.iter_raw():
                    yield from pump.feed(raw)
                    if pump.done:
                        return
                yield from pump.end()
                return
            except HTTP_ERRORS as exc:
                raise _stream_failed(exc, endpoint, rule, reader) from None
            finally:
                response.close()
        except NebulaError as error:
            # The last bytes read may echo the key: out of this frame's locals, which
            # a traceback printed with locals (or an error tracker) would show.
            raw = b""
            failure = _scrubbed(error, endpoint.redactor)
            if pump is not None and pump.yielded:
                raise
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
            await asyncio.sleep(retrying.wait_or_raise(_scrubbed(error, endpoint.redactor)))
            continue
        pump: _Pump[T] | None = None
        try:
            try:
                reader = endpoint.event_reader(response.headers, retrying.deadline)
                pump = _Pump(new_parser(response.headers), reader)
                async for raw in response.aiter_raw():
                    for item in pump.feed(raw):
                        yield item
                    if pump.done:
                        return
                for item in pump.end():
                    yield item
                return
            except HTTP_ERRORS as exc:
                raise _stream_failed(exc, endpoint, rule, reader) from None
            finally:
                await response.aclose()
        except NebulaError as error:
            # The last bytes read may echo the key: out of this frame's locals, which
            # a traceback printed with locals (or an error tracker) would show.
            raw = b""
            failure = _scrubbed(error, endpoint.redactor)
            if pump is not None and pump.yielded:
                raise
            await asyncio.sleep(retrying.wait_or_raise(failure, accepted=True))


def _stream_failed(
    exc: Exception, endpoint: Endpoint, rule: ReadRule, reader: EventReader
) -> NebulaError:
    if isinstance(exc, READ_TIMEOUTS) and rule == "stall":
        return reader.stalled()
    return _failed(exc, endpoint)
