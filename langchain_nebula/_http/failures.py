"""How a failed attempt becomes a typed error.

The transport's own failures, an error response's body, a 2xx body that is not an
answer, and the scrub every error gets before it leaves (no frames that held what was
read, no key in any text).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from langchain_nebula._http.decoding import Inflater
from langchain_nebula._http.endpoint import Endpoint
from langchain_nebula._http.libraries import (
    LOCAL_ERRORS,
    REMOTE_PROTOCOL_ERRORS,
    TIMEOUTS,
    Response,
)
from langchain_nebula._redaction import Redactor
from langchain_nebula._wire.json_codec import decode_json
from langchain_nebula.errors import (
    NebulaBadRequestError,
    NebulaConnectionError,
    NebulaError,
    NebulaResponseError,
    NebulaTimeoutError,
    error_from_response,
)

__all__ = [
    "ERROR_BODY_LIMIT",
    "ConnectWatch",
    "ErrorBody",
    "decode_json_body",
    "error_from_transport",
    "error_response",
    "scrubbed",
    "transport_failure",
]


# Error bodies are read for their message only; the rest is dropped unread.
ERROR_BODY_LIMIT = 64 * 1024


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


class ConnectWatch:
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


def transport_failure(
    exc: Exception, endpoint: Endpoint, watch: ConnectWatch | None = None
) -> NebulaError:
    """The typed error for ``exc``, with ``exc`` as its cause unless its text shows the key.

    Raise it ``from`` its ``__cause__``: ``from None`` would drop that cause. ``scrubbed``
    later takes the frames off every linked error.
    """
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


class ErrorBody:
    """The first ``ERROR_BODY_LIMIT`` bytes of an error response, as they arrive."""

    __slots__ = ("raws", "size")

    def __init__(self) -> None:
        self.raws: list[bytes] = []
        self.size = 0

    def add(self, raw: bytes) -> bool:
        """Keeps ``raw``; returns whether enough has been read."""
        self.raws.append(raw)
        self.size += len(raw)
        return self.size >= ERROR_BODY_LIMIT


def error_response(response: Response, raws: list[bytes], endpoint: Endpoint) -> NebulaError:
    inflater = Inflater(response.headers.get("content-encoding"), ERROR_BODY_LIMIT, truncate=True)
    try:
        pieces = [piece for raw in raws for piece in inflater.feed(raw)] + inflater.end()
    except NebulaError:
        pieces = raws  # an undecodable body: keep what was sent, for the record
    body = b"".join(pieces)[:ERROR_BODY_LIMIT]
    return error_from_response(
        response.status_code,
        response.headers,
        body,
        redactor=endpoint.redactor,
        auth_hint=endpoint.auth_hint,
        host=urlsplit(endpoint.url).hostname,
    )


def scrubbed(error: NebulaError, redactor: Redactor) -> NebulaError:
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
            if redactor and shows_key(other, redactor):
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


def shows_key(error: BaseException, redactor: Redactor) -> bool:
    """Whether ``error``'s text or attributes (a JSON error's ``doc``) hold the key."""
    text = f"{error}{error.args!r}{getattr(error, '__dict__', {})!r}"
    return redactor.text(text) != text
