"""Which HTTP library carries our requests, and the types of client users may hand us.

Our own pooled clients use httpx2 (pydantic's maintained continuation of httpx, which
openai's SDK moved to): with 1000 requests in flight its connection pool costs about a
fifth of httpx 0.28's (``benchmarks/results/transports.md``). httpx2 needs Python 3.11;
on 3.10 our clients are httpx's. A client you pass in may come from either library:
requests are built with that client's own types, and both libraries' errors map to
ours.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import httpx

if sys.version_info >= (3, 11):
    import httpx2

    http: ModuleType = httpx2
    LIBRARIES: tuple[ModuleType, ...] = (httpx2, httpx)
    Timeout = httpx.Timeout | httpx2.Timeout
    SyncClient = httpx.Client | httpx2.Client
    AsyncClient = httpx.AsyncClient | httpx2.AsyncClient
    Headers = httpx.Headers | httpx2.Headers
    Request = httpx.Request | httpx2.Request
    Response = httpx.Response | httpx2.Response
else:  # pragma: no cover - exercised by CI's Python 3.10 run
    http = httpx
    LIBRARIES = (httpx,)
    Timeout = httpx.Timeout
    SyncClient = httpx.Client
    AsyncClient = httpx.AsyncClient
    Headers = httpx.Headers
    Request = httpx.Request
    Response = httpx.Response

__all__ = [
    "HTTP_ERRORS",
    "LIBRARIES",
    "LOCAL_ERRORS",
    "READ_TIMEOUTS",
    "REMOTE_PROTOCOL_ERRORS",
    "TIMEOUTS",
    "AsyncClient",
    "Headers",
    "Request",
    "Response",
    "SyncClient",
    "Timeout",
    "http",
    "library_of",
]


def _each(name: str) -> tuple[type[Exception], ...]:
    return tuple(getattr(library, name) for library in LIBRARIES)


HTTP_ERRORS = _each("HTTPError")
TIMEOUTS = _each("TimeoutException")
READ_TIMEOUTS = _each("ReadTimeout")
REMOTE_PROTOCOL_ERRORS = _each("RemoteProtocolError")
# Failures of our own making: the request could not even be written.
LOCAL_ERRORS = (*_each("LocalProtocolError"), *_each("UnsupportedProtocol"), *_each("InvalidURL"))


_HTTPX_TYPES = (httpx.Client, httpx.AsyncClient, httpx.Request, httpx.Response)


def library_of(thing: Any) -> ModuleType:
    """The library a client, request or response comes from (httpx or httpx2).

    Decided by type, not module name, so a subclass defined elsewhere (an
    ``httpx.AsyncClient`` over aiohttp, a user's own ``httpx.Client``) is its base's.
    """
    return httpx if isinstance(thing, _HTTPX_TYPES) else http
