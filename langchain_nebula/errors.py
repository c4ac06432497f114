"""Every failure this package raises, and the one place wire failures become them.

Each class inherits from the matching ``langchain_core.exceptions`` type, so code that
catches LangChain's provider-neutral errors keeps working, and from ``NebulaError``,
which carries what the server said::

    langchain_core.exceptions.ModelError
    └── NebulaError                    .status_code .message .raw_message .request_id
        │                              .code .body .retry_after .retryable
        ├── NebulaAuthenticationError   401, or no API key for Nebula's host
        ├── NebulaPermissionDeniedError 403
        ├── NebulaNotFoundError         404, or a proxy's "invalid model name"
        ├── NebulaBadRequestError       400, 422, other 4xx; a 5xx that says the request
        │   │                           itself can never succeed ("… is not supported")
        │   └── NebulaContextOverflowError  the prompt exceeds the model's context
        ├── NebulaRateLimitError        429                                  (retried)
        ├── NebulaServerError           5xx, 408, 409, a proxy's HTML page   (retried)
        │   └── NebulaResponseError     a 2xx answer that cannot be used: not JSON, wrong
        │       │                       shape, over ``max_response_bytes``
        │       └── NebulaStreamError   error event (retried before the first chunk),
        │                               malformed or oversized event, cut before [DONE]
        ├── NebulaTimeoutError          connect/read/write/pool timeout, a stalled
        │                               stream, ``total_timeout``            (retried)
        └── NebulaConnectionError       refused, reset, DNS, TLS              (retried)

    langchain_core.exceptions.OutputParserException
    └── NebulaRefusalError             the model refused to give structured output

Whether an error is retried is its ``retryable`` attribute, set here where the failure
is classified; the transport only reads it. Nothing here performs I/O: the transport
hands over a status, headers and body bytes and gets a typed error back, with the API
key masked in every piece of text it keeps. Every error is complete when built: the
only later edits are the retry loop's notes on why it stopped retrying.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from langchain_core.exceptions import (
    ContextOverflowError,
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelError,
    ModelInvalidRequestError,
    ModelNotFoundError,
    ModelPermissionDeniedError,
    ModelRateLimitError,
    ModelTimeoutError,
    OutputParserException,
)

from langchain_nebula._provider import NEBULA_HOSTS, PROVIDER_NAME
from langchain_nebula._redaction import Redactor
from langchain_nebula._server_words import (
    MAX_SNIPPET,
    clean_message,
    describe,
    error_object,
    html_snippet,
    parse_json_text,
    retry_after_seconds,
    status_from_code,
)

__all__ = [
    "NebulaAuthenticationError",
    "NebulaBadRequestError",
    "NebulaConnectionError",
    "NebulaContextOverflowError",
    "NebulaError",
    "NebulaNotFoundError",
    "NebulaPermissionDeniedError",
    "NebulaRateLimitError",
    "NebulaRefusalError",
    "NebulaResponseError",
    "NebulaServerError",
    "NebulaStreamError",
    "NebulaTimeoutError",
    "clean_message",
    "deadline_error",
    "error_from_event",
    "error_from_response",
    "retry_after_seconds",
    "stall_error",
    "too_large_error",
]


class NebulaError(ModelError):
    """Base class of every error a Nebula model raises for a failed call.

    Attributes:
        message: What went wrong: the server's own words when it sent any, without a
            proxy's boilerplate, with the API key masked.
        raw_message: The server's message exactly as sent (key masked), or ``None``.
        status_code: The HTTP status, or ``None`` when no response arrived.
        request_id: The server's request id header, when present.
        code: The server's error ``code`` or ``type`` field, when present.
        body: The parsed error body (dict) or its text, key masked, for debugging.
        retry_after: Seconds the server asked to wait before retrying, if it said.
        retryable: Whether a retry may succeed (the transport retries only these).
        host: The host that answered, when known. The message names it unless it is
            one of Nebula's: ``"API error 400 from 127.0.0.1: …"``; Nebula's hosts (or
            an unknown one) read ``"Nebula API error 400: …"``.

    Example:
        .. code-block:: python

            try:
                model.invoke("Hello")
            except NebulaError as error:
                print(error.status_code, error.message, error.request_id)
    """

    retryable_by_default = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        code: str | None = None,
        body: Any = None,
        raw_message: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        unsent: bool = False,
        host: str | None = None,
    ) -> None:
        self.message = message
        self.host = host
        self.raw_message = raw_message
        self.status_code = status_code
        self.request_id = request_id
        self.code = code
        self.body = body
        self.retry_after = retry_after
        self.retryable = self.retryable_by_default if retryable is None else retryable
        # True when the request certainly never reached the server (a reused
        # connection closed before answering): resending it is always safe.
        self.unsent = unsent
        super().__init__(message)

    def __str__(self) -> str:
        text = self.message
        if self.status_code is not None:
            if self.host is None or self.host in NEBULA_HOSTS:
                text = f"{PROVIDER_NAME} API error {self.status_code}: {text}"
            else:
                text = f"API error {self.status_code} from {self.host}: {text}"
        if self.request_id:
            text = f"{text} (request id: {self.request_id})"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors do not survive pickling by default; errors cross
        # process boundaries in batch runners, so keep them picklable.
        return (_rebuild, (type(self), self.message, self.__dict__))


def _rebuild(cls: type[NebulaError], message: str, state: dict[str, Any]) -> NebulaError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class NebulaAuthenticationError(NebulaError, ModelAuthenticationError):
    """The API key is missing, malformed or rejected (HTTP 401)."""


class NebulaPermissionDeniedError(NebulaError, ModelPermissionDeniedError):
    """The key is valid but may not use this model or endpoint (HTTP 403)."""


class NebulaNotFoundError(NebulaError, ModelNotFoundError):
    """The model or endpoint does not exist (HTTP 404, or a proxy's 400 saying so)."""


class NebulaBadRequestError(NebulaError, ModelInvalidRequestError):
    """The server rejected the request as invalid; sending it again cannot help."""


class NebulaContextOverflowError(NebulaBadRequestError, ContextOverflowError):
    """The prompt plus ``max_tokens`` exceeds the model's context window."""


class NebulaRateLimitError(NebulaError, ModelRateLimitError):
    """Too many requests for the account's tier (HTTP 429)."""

    retryable_by_default = True


class NebulaServerError(NebulaError, ModelAPIError):
    """The server or a proxy in front of it failed (HTTP 5xx, 408, 409)."""

    retryable_by_default = True


class NebulaResponseError(NebulaServerError):
    """The server answered 2xx with something that cannot be used as an answer."""

    retryable_by_default = False


class NebulaStreamError(NebulaResponseError):
    """A stream carried an error event, an unusable event, or ended before [DONE]."""


class NebulaTimeoutError(NebulaError, ModelTimeoutError):
    """No response, or no next stream event, within the configured time."""

    retryable_by_default = True


class NebulaConnectionError(NebulaError, ModelConnectionError):
    """The server could not be reached or dropped the connection."""

    retryable_by_default = True


class NebulaRefusalError(OutputParserException):
    """The model refused to answer in the requested structure (``message.refusal``).

    Attributes:
        refusal: The model's refusal, as it gave it.
    """

    def __init__(self, refusal: str) -> None:
        self.refusal = refusal
        super().__init__(f"the model refused to answer: {refusal}", llm_output=refusal)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.refusal,))


# -- what the words mean ---------------------------------------------------------------
# Every pattern runs on text already cut to MAX_MESSAGE characters (see _server_words).
_CONTEXT_OVERFLOW = re.compile(
    r"maximum context length|context length exceeded|context_length_exceeded"
    r"|exceeds the (?:available )?context size|prompt is too long|context window exceeded"
    r"|is too large to process"
    r"|ContextWindowExceededError",
    re.IGNORECASE,
)
_MODEL_NOT_FOUND = re.compile(
    r"invalid model name|model_not_found|model not found|no such model"
    r"|the model `[^`]{0,300}` does not exist",
    re.IGNORECASE,
)
# A server error whose cause is the request itself: the same request fails every time.
_NEVER_SUCCEEDS = re.compile(
    r"\bis not supported\b|\bare not supported\b|\bdoes not support\b|\bnot a multimodal model\b",
    re.IGNORECASE,
)
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-litellm-call-id")


def _class_for_status(status: int) -> type[NebulaError]:
    if status == 401:
        return NebulaAuthenticationError
    if status == 403:
        return NebulaPermissionDeniedError
    if status == 404:
        return NebulaNotFoundError
    if status == 429:
        return NebulaRateLimitError
    if status >= 500 or status in (408, 409):
        return NebulaServerError
    return NebulaBadRequestError


def _class_for_words(cls: type[NebulaError], message: str) -> type[NebulaError]:
    """Refines the status's class by what the message says."""
    if cls in (NebulaBadRequestError, NebulaNotFoundError, NebulaServerError):
        if _CONTEXT_OVERFLOW.search(message):
            return NebulaContextOverflowError
        if cls is not NebulaServerError and _MODEL_NOT_FOUND.search(message):
            return NebulaNotFoundError
        if cls is NebulaServerError and _NEVER_SUCCEEDS.search(message):
            return NebulaBadRequestError
    return cls


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    redactor: Redactor | None = None,
    auth_hint: str | None = None,
    host: str | None = None,
) -> NebulaError:
    """Maps a non-2xx HTTP response to the typed error for its status and words.

    Args:
        status: The HTTP status.
        headers: The response headers (for the request id and ``Retry-After``).
        body: The response body, already capped by the transport.
        redactor: Masks the API key in everything the error keeps.
        auth_hint: Added to a 401's message: why no key, or which key, was sent.
        host: The host that answered; errors from hosts other than Nebula's name it.
    """
    redact = redactor or Redactor(None)
    text = redact.text(body.decode("utf-8", "replace")).strip()
    parsed = parse_json_text(text) if text[:1] in ("{", "[") else None
    if parsed is not None and "\\u" in text:
        parsed = redact.value(parsed)  # a key spelled in \u escapes decodes only now
    raw, code, _ = describe(parsed)
    if raw is not None:
        raw = redact.text(raw)
        message = clean_message(raw)
    elif not text:
        message = "empty response body"
    elif parsed is None:
        message = f"non-JSON error body: {html_snippet(text)}"
    else:
        message = text[:MAX_SNIPPET]
    request_id = next((headers[h] for h in _REQUEST_ID_HEADERS if h in headers), None)
    cls = _class_for_words(_class_for_status(status), message)
    if auth_hint and status == 401:
        message = f"{message} ({auth_hint})"
    return cls(
        message,
        status_code=status,
        request_id=redact.text(request_id) if request_id else None,
        code=redact.text(code) if code else None,
        body=parsed if parsed is not None else text[:MAX_SNIPPET],
        raw_message=raw,
        retry_after=retry_after_seconds(headers),
        host=host,
    )


def error_from_event(event: Mapping[str, Any], *, redactor: Redactor | None = None) -> NebulaError:
    """Maps a ``data: {"error": ...}`` stream event to a typed error.

    A 4xx code names the client's mistake (not retried); anything else is an upstream
    failure reported in-band, retried while no chunk has been yielded.
    """
    redact = redactor or Redactor(None)
    clean_event = redact.value(dict(event))
    error = clean_event.get("error")
    if isinstance(error, Mapping):
        raw, code, raw_code = error_object(error)
    else:
        raw, code, raw_code = (error if isinstance(error, str) else json.dumps(error)), None, None
    raw = raw or "the stream reported an error without a message"
    message = clean_message(raw)
    status = status_from_code(raw_code)
    base = _class_for_status(status) if status is not None else NebulaServerError
    cls = _class_for_words(base, message)
    if cls is NebulaServerError:
        cls = NebulaStreamError
    retryable = cls is NebulaStreamError or cls.retryable_by_default
    return cls(
        f"error event in stream: {message}",
        status_code=status,
        code=code,
        body=clean_event,
        raw_message=raw,
        retryable=retryable,
    )


# -- failures of our own reading ------------------------------------------------------


def too_large_error(limit: int) -> NebulaResponseError:
    """The error for a body larger than ``max_response_bytes`` (never retried)."""
    msg = (
        f"the response body exceeded max_response_bytes={limit} (after decompression); "
        "raise max_response_bytes if such answers are expected"
    )
    return NebulaResponseError(msg)


def stall_error(stall: float) -> NebulaTimeoutError:
    """The error for a stream that produced no event for ``stall`` seconds."""
    msg = (
        f"the stream produced no event for {stall:g} s "
        "(stream_chunk_timeout); the server may be stuck"
    )
    return NebulaTimeoutError(msg)


def deadline_error() -> NebulaTimeoutError:
    """The error for a call that ran past ``total_timeout`` (never retried)."""
    msg = "the call did not finish within total_timeout"
    return NebulaTimeoutError(msg, retryable=False)
