"""Every failure ChatNebula raises, and the one place wire failures become them.

Each class inherits from the matching ``langchain_core.exceptions`` type, so code that
catches LangChain's provider-neutral errors keeps working, and from ``NebulaError``,
which carries what the server said::

    langchain_core.exceptions.ModelError
    └── NebulaError                    .status_code .message .request_id .code .body
        ├── NebulaAuthenticationError   401, or no API key for the Nebula host
        ├── NebulaPermissionDeniedError 403
        ├── NebulaNotFoundError         404 (unknown model, wrong base_url)
        ├── NebulaBadRequestError       400, 422 and other 4xx the server rejects
        │   └── NebulaContextOverflowError  the prompt exceeds the model's context
        ├── NebulaRateLimitError        429                              (retried)
        ├── NebulaServerError           5xx, 408, 409, a proxy's HTML page (retried)
        │   └── NebulaStreamError       error event, malformed event, stream cut short
        ├── NebulaTimeoutError          connect/read/write/pool timeout  (retried)
        └── NebulaConnectionError       refused, reset, DNS, TLS          (retried)

Nothing here performs I/O: the transport hands over a status, headers and body bytes
(or an ``httpx`` exception) and gets a typed error back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import httpx
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
    "NebulaServerError",
    "NebulaStreamError",
    "NebulaTimeoutError",
]


class NebulaError(ModelError):
    """Base class of every error ChatNebula raises for a failed call.

    Attributes:
        message: The server's own message when it sent one, else a description.
        status_code: The HTTP status, or ``None`` when no response arrived.
        request_id: The server's request id header, when present.
        code: The server's error ``code`` or ``type`` field, when present.
        body: The parsed error body (dict) or raw text, for debugging.
        retry_after: Seconds the server asked to wait before retrying, if it said.

    Example:
        .. code-block:: python

            try:
                model.invoke("Hello")
            except NebulaError as error:
                print(error.status_code, error.message, error.request_id)
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        code: str | None = None,
        body: Any = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.request_id = request_id
        self.code = code
        self.body = body
        self.retry_after: float | None = None
        self.stale_connection = False
        super().__init__(message)

    def __str__(self) -> str:
        text = self.message
        if self.status_code is not None:
            text = f"Nebula API error {self.status_code}: {text}"
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
    """The model or endpoint does not exist (HTTP 404)."""


class NebulaBadRequestError(NebulaError, ModelInvalidRequestError):
    """The server rejected the request as invalid (HTTP 400, 422, other 4xx)."""


class NebulaContextOverflowError(NebulaBadRequestError, ContextOverflowError):
    """The prompt plus ``max_tokens`` exceeds the model's context window."""


class NebulaRateLimitError(NebulaError, ModelRateLimitError):
    """Too many requests for the account's tier (HTTP 429)."""


class NebulaServerError(NebulaError, ModelAPIError):
    """The server or a proxy in front of it failed (HTTP 5xx, 408, 409)."""


class NebulaStreamError(NebulaServerError):
    """A stream carried an error event, an unparseable event, or ended early."""


class NebulaTimeoutError(NebulaError, ModelTimeoutError):
    """No response (or no next stream chunk) within the configured timeout."""


class NebulaConnectionError(NebulaError, ModelConnectionError):
    """The server could not be reached or dropped the connection."""


_CONTEXT_OVERFLOW = re.compile(
    r"maximum context length|context length exceeded|context_length_exceeded"
    r"|exceeds the (?:available )?context size|prompt is too long",
    re.IGNORECASE,
)
_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-litellm-call-id")
_MAX_RAW_MESSAGE = 300


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


def _status_from_code(code: Any) -> int | None:
    # LiteLLM sends the status as a string ("401"), vLLM and llama.cpp as an int.
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code if 100 <= code <= 599 else None
    if isinstance(code, str) and code.isdigit():
        return _status_from_code(int(code))
    return None


def _describe_error_object(error: Mapping[str, Any]) -> tuple[str, str | None, Any]:
    """Returns (message, code-or-type, raw code) from an error object of any known shape."""
    message = error.get("message")
    if not isinstance(message, str) or not message:
        message = json.dumps(error, ensure_ascii=False)[:_MAX_RAW_MESSAGE]
    raw_code = error.get("code")
    label = error.get("type")
    if raw_code is not None and _status_from_code(raw_code) is None:
        label = raw_code
    return message, str(label) if label not in (None, "None") else None, raw_code


def _describe_body(body: bytes) -> tuple[str, str | None, Any, Any]:
    """Returns (message, code, raw code, parsed body) for an error response body."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return "empty response body", None, None, None
    try:
        parsed = json.loads(text)
    except ValueError:
        title = _HTML_TITLE.search(body)
        snippet = title.group(1).decode("utf-8", "replace") if title else _TAGS.sub(" ", text)
        snippet = " ".join(snippet.split())[:_MAX_RAW_MESSAGE]
        return f"non-JSON error body: {snippet}", None, None, text[:_MAX_RAW_MESSAGE]
    if isinstance(parsed, dict):
        nested = parsed.get("error")
        if isinstance(nested, dict):  # LiteLLM, llama.cpp, OpenAI
            return (*_describe_error_object(nested), parsed)
        if isinstance(nested, str):  # {"error": "..."} from simpler proxies
            return nested, None, None, parsed
        if "message" in parsed:  # vLLM's flat ErrorResponse
            return (*_describe_error_object(parsed), parsed)
        if "detail" in parsed:  # FastAPI validation errors
            detail = parsed["detail"]
            message = detail if isinstance(detail, str) else json.dumps(detail)
            return message[: _MAX_RAW_MESSAGE * 4], None, None, parsed
    return text[:_MAX_RAW_MESSAGE], None, None, parsed


def _redact(text: str, secret: str | None) -> str:
    # Some proxies echo the rejected key back in their message.
    if secret and len(secret) >= 4 and secret in text:
        return text.replace(secret, "***")
    return text


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret: str | None = None,
) -> NebulaError:
    """Maps a non-2xx HTTP response to the typed error for its status and body."""
    message, code, _, parsed = _describe_body(body)
    message = _redact(message, secret)
    request_id = next((headers[h] for h in _REQUEST_ID_HEADERS if h in headers), None)
    cls = _class_for_status(status)
    if cls is NebulaBadRequestError and _CONTEXT_OVERFLOW.search(message):
        cls = NebulaContextOverflowError
    return cls(message, status_code=status, request_id=request_id, code=code, body=parsed)


def error_from_event(event: Mapping[str, Any], *, secret: str | None = None) -> NebulaError:
    """Maps a ``data: {"error": ...}`` stream event to a typed error."""
    error = event.get("error")
    if isinstance(error, Mapping):
        message, code, raw_code = _describe_error_object(error)
    else:
        message, code, raw_code = str(error), None, None
    message = _redact(message, secret)
    status = _status_from_code(raw_code)
    cls: type[NebulaError] = NebulaStreamError
    if status is not None and status < 500 and _class_for_status(status) is not NebulaServerError:
        cls = _class_for_status(status)
    if _CONTEXT_OVERFLOW.search(message):
        cls = NebulaContextOverflowError
    return cls(f"error event in stream: {message}", status_code=status, code=code, body=dict(event))


def error_from_transport(exc: httpx.TransportError) -> NebulaError:
    """Maps an ``httpx`` transport failure (no usable response) to a typed error."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return NebulaTimeoutError(f"request timed out ({type(exc).__name__}: {detail})")
    if isinstance(exc, httpx.RemoteProtocolError):
        error = NebulaConnectionError(f"server closed the connection: {detail}")
        # A pooled keep-alive connection the server had already closed (llama.cpp
        # does this after every stream): nothing was processed, so resending is safe.
        error.stale_connection = "without sending a response" in detail
        return error
    return NebulaConnectionError(f"could not reach the server ({type(exc).__name__}: {detail})")
