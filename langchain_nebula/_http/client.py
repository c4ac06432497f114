"""``NebulaClient``: everything derived from one state of the connection settings.

The settings class (``langchain_nebula._settings``) holds the fields users set and
validates them; this client holds what follows from them, normalised once: the base
URL, the key and the hosts it may go to, the redactor, the retry policy, the waits,
the response size cap, the headers, which pooled (or user-given) httpx client carries
each request, and one ``Endpoint`` per target. Model classes, the catalog and token
counting make their calls here and nowhere else: ``post_json``, ``get_json`` and
``stream_events``, each sync and async.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import unicodedata
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from langchain_nebula._http.endpoint import Endpoint, MaskedHeaders
from langchain_nebula._http.libraries import AsyncClient, SyncClient, Timeout
from langchain_nebula._http.pools import (
    CALL_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS,
    ClientConfig,
    async_client,
    environment_for_clients,
    sync_client,
)
from langchain_nebula._http.retry import RetryPolicy
from langchain_nebula._http.timeouts import Timeouts
from langchain_nebula._http.transport import (
    EventParser,
    asend_json,
    astream_events,
    send_json,
    stream_events,
)
from langchain_nebula._provider import (
    API_KEY_ENV,
    BASE_URL_ENV,
    CATALOG_URL_ENV,
    NEBULA_HOSTS,
    PROVIDER_NAME,
    USER_AGENT,
)
from langchain_nebula._redaction import Redactor
from langchain_nebula.errors import NebulaAuthenticationError

__all__ = [
    "DOUBLE_AUTHORIZATION",
    "NebulaClient",
    "checked_api_key",
    "checked_base_url",
    "checked_headers",
]

logger = logging.getLogger("langchain_nebula")

T = TypeVar("T")

# Characters a pasted key often carries at its ends that str.strip() keeps.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

# Sent with every request unless default_headers names them.
_STANDARD_HEADERS = (
    ("Content-Type", "application/json"),
    ("Accept-Encoding", "gzip, deflate"),
    ("User-Agent", USER_AGENT),
)

DOUBLE_AUTHORIZATION = (
    "default_headers may not set Authorization when an API key is set: the key is sent "
    "as 'Authorization: Bearer <key>'"
)


def _bad_header_character(value: str) -> str | None:
    """Describes the first character of ``value`` that cannot go in a header, if any."""
    for position, character in enumerate(value):
        if not (" " <= character <= "~") and character != "\t":
            name = unicodedata.name(character, f"U+{ord(character):04X}")
            return f"{name} (U+{ord(character):04X}) at position {position}"
    return None


def checked_api_key(value: str) -> str:
    """The key with surrounding whitespace removed, or a ``ValueError`` never echoing it."""
    key = value.strip().strip(_INVISIBLE).strip()
    problem = _bad_header_character(key)
    if problem is not None:
        msg = (
            f"api_key contains {problem}, which cannot be sent in an HTTP header; "
            "copy the key again without it"
        )
        raise ValueError(msg)
    return key


def _checked_secret(api_key: SecretStr | None) -> SecretStr | None:
    """``checked_api_key`` on a secret, kept a secret; ``None`` for no key or an empty one."""
    if api_key is None:
        return None
    key = SecretStr(checked_api_key(api_key.get_secret_value()))
    return key if key.get_secret_value() else None


def checked_base_url(value: str) -> httpx.URL:
    """Parses ``base_url``; refuses credentials in it, naming the problem, not the value."""
    try:
        url = httpx.URL(value.strip())
    except httpx.InvalidURL:
        msg = "base_url is not a valid URL"
        raise ValueError(msg) from None
    if url.scheme not in ("http", "https") or not url.host:
        msg = "base_url must be an http:// or https:// URL with a host"
        raise ValueError(msg)
    if url.userinfo:
        msg = (
            "base_url must not carry credentials (user:password@host); pass the key as "
            "api_key=..., or other credentials in default_headers"
        )
        raise ValueError(msg)
    return url


def checked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers``, or a ``ValueError`` naming the header HTTP cannot carry."""
    for name, value in headers.items():
        if not name or not set(name) <= _TOKEN:
            msg = f"default_headers has a header name that HTTP does not allow: {name!r}"
            raise ValueError(msg)
        if not isinstance(value, str) or _bad_header_character(value) is not None:
            msg = f"default_headers[{name!r}] cannot be sent in an HTTP header"
            raise ValueError(msg)
    return dict(headers)


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _open_connections(client: SyncClient | AsyncClient) -> int | None:
    """The connections in the pool of ``client``'s transport, or ``None`` if unknown."""
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    connections = getattr(pool, "connections", None)
    return len(connections) if isinstance(connections, list) else None


def _env_host(name: str) -> str | None:
    value = os.environ.get(name)
    if not value:
        return None
    try:
        return httpx.URL(value.strip()).host or None
    except httpx.InvalidURL:
        return None


class NebulaClient:
    """The one object every request goes through, built from validated settings.

    Args:
        base_url: The API root (``…/v1``); paths are appended to it.
        api_key: The key, or ``None`` to send none.
        key_is_explicit: Whether the key was passed (then it goes to any host), not
            read from ``NEBULA_API_KEY`` (then only to Nebula's hosts, or the hosts of
            ``NEBULA_BASE_URL``/``NEBULA_CATALOG_URL``).
        timeout: The ``timeout`` setting.
        total_timeout: Seconds the whole call may take.
        max_retries: Retries after the first attempt.
        max_response_bytes: The largest decoded body (and stream event) accepted.
        retry_accepted_requests: Whether a request answered 2xx may be resent when
            its answer fails without a status (see ``RetryPolicy.retry_accepted``).
        headers: Headers sent with every request.
        max_connections: The most connections open at once for streams (short calls
            share a pool of at most ``CALL_CONNECTIONS``).
        http_client: The user's sync client, or ``None`` for the pooled one.
        http_async_client: The user's async client, or ``None`` for the pooled one.

    Raises:
        ValueError: If a setting cannot be sent (checked again here, since settings
            may change after validation through in-place edits).
    """

    __slots__ = (
        "_calls",
        "_endpoints",
        "_headers",
        "_http_async_client",
        "_http_client",
        "_key",
        "_key_is_explicit",
        "_max_response_bytes",
        "_pid",
        "_retry",
        "_streams",
        "_timeouts",
        "base_url",
        "redactor",
    )

    def __init__(
        self,
        *,
        base_url: str,
        api_key: SecretStr | None,
        key_is_explicit: bool,
        timeout: float | Timeout | None,
        total_timeout: float | None,
        max_retries: int,
        max_response_bytes: int,
        headers: Mapping[str, str] | None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        retry_accepted_requests: bool = False,
        http_client: SyncClient | None,
        http_async_client: AsyncClient | None,
    ) -> None:
        self.base_url = str(checked_base_url(base_url)).rstrip("/")
        # The key stays in a SecretStr: no plain local of this frame holds it.
        self._key = _checked_secret(api_key)
        self._key_is_explicit = key_is_explicit
        self._headers = checked_headers(headers or {})
        if self._key is not None and any(n.lower() == "authorization" for n in self._headers):
            raise ValueError(DOUBLE_AUTHORIZATION)
        self.redactor = Redactor(None if self._key is None else self._key.get_secret_value())
        self._retry = RetryPolicy(
            max_retries=max_retries,
            total_timeout=total_timeout,
            retry_accepted=retry_accepted_requests,
        )
        own_client = http_client is not None or http_async_client is not None
        self._timeouts = Timeouts.from_settings(timeout, total=total_timeout, own_client=own_client)
        waits = self._timeouts.waits
        environment = environment_for_clients()
        self._calls = ClientConfig(
            waits, min(max_connections, CALL_CONNECTIONS), environment=environment
        )
        self._streams = ClientConfig(waits, max_connections, environment=environment)
        self._max_response_bytes = max_response_bytes
        self._http_client = http_client
        self._http_async_client = http_async_client
        # The process the user's clients were handed over in (see ``_own_process``).
        self._pid = os.getpid()
        self._endpoints: dict[tuple[str, str, float | None], Endpoint] = {}

    def __repr__(self) -> str:
        return f"NebulaClient({self.base_url})"

    # -- the calls --------------------------------------------------------------------

    def post_json(self, target: str, body: bytes) -> tuple[dict[str, Any], Mapping[str, str]]:
        """POSTs ``body`` to ``target`` (a path under ``base_url`` or a URL).

        Returns:
            The JSON object answered, and the response headers.
        """
        return send_json(self._sync(self._calls), self._endpoint(target, "POST", None), body)

    async def apost_json(
        self, target: str, body: bytes
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        """Async ``post_json``."""
        return await asend_json(
            self._async(self._calls), self._endpoint(target, "POST", None), body
        )

    def get_json(self, target: str) -> tuple[dict[str, Any], Mapping[str, str]]:
        """GETs ``target``; returns the JSON object answered and the response headers."""
        return send_json(self._sync(self._calls), self._endpoint(target, "GET", None), b"")

    async def aget_json(self, target: str) -> tuple[dict[str, Any], Mapping[str, str]]:
        """Async ``get_json``."""
        return await asend_json(self._async(self._calls), self._endpoint(target, "GET", None), b"")

    def stream_events(
        self,
        target: str,
        body: bytes,
        new_parser: Callable[[Mapping[str, str]], EventParser[T]],
        *,
        stall: float | None,
    ) -> Iterator[T]:
        """POSTs ``body`` and yields what ``new_parser``'s parser makes of each event.

        Args:
            target: A path under ``base_url`` or a URL.
            body: The request body.
            new_parser: Makes a parser from the response headers, once per attempt.
            stall: Seconds the stream may go without an event, or ``None``.
        """
        return stream_events(
            self._sync(self._streams), self._endpoint(target, "POST", stall), body, new_parser
        )

    def astream_events(
        self,
        target: str,
        body: bytes,
        new_parser: Callable[[Mapping[str, str]], EventParser[T]],
        *,
        stall: float | None,
    ) -> AsyncIterator[T]:
        """Async ``stream_events``."""
        return astream_events(
            self._async(self._streams), self._endpoint(target, "POST", stall), body, new_parser
        )

    def url(self, target: str) -> str:
        """The URL a request for ``target`` goes to."""
        return target if "://" in target else f"{self.base_url}{target}"

    # -- what the calls need ----------------------------------------------------------

    def _sync(self, config: ClientConfig) -> SyncClient:
        if self._http_client is None:
            return sync_client(config)
        if self._pid != os.getpid():
            self._own_process()
        return self._http_client

    def _async(self, config: ClientConfig) -> AsyncClient:
        if self._http_async_client is None:
            return async_client(config)
        if self._pid != os.getpid():
            self._own_process()
        return self._http_async_client

    def _own_process(self) -> None:
        """Checks the user's clients after this process forked from the one given them.

        Our pooled clients are dropped in a forked child (``pools``); a client the user
        passed is theirs, so it is used only if it holds no connection the parent could
        also be reading.

        Raises:
            RuntimeError: If a user's client holds connections opened before the fork.
        """
        for client in (self._http_client, self._http_async_client):
            if client is None:
                continue
            count = _open_connections(client)
            if count:
                msg = (
                    f"this process was forked from the one that opened the {count} "
                    "connection(s) of the http client you passed: both would read each "
                    "other's answers. Make the client in each process after it starts "
                    "(e.g. gunicorn's post_fork, Celery's worker_process_init), or let "
                    "ChatNebula pool its own (reset in each process)"
                )
                raise RuntimeError(msg)
            if count is None:
                logger.warning(
                    "This process was forked after your http client was made, and its "
                    "connections cannot be inspected: if it had any open, make the "
                    "client in each process instead"
                )
        self._pid = os.getpid()

    def _endpoint(self, target: str, method: str, stall: float | None) -> Endpoint:
        """The endpoint for ``target``, built on first use.

        Raises:
            NebulaAuthenticationError: If no key would be sent to Nebula's own host.
        """
        key = (target, method, stall)
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            endpoint = self._endpoints[key] = self._build_endpoint(target, method, stall)
        return endpoint

    def _key_for(self, host: str) -> tuple[SecretStr | None, str | None]:
        """The key to send to ``host``, and a hint for a 401 when it is held back."""
        if self._key is None or self._key_is_explicit:
            return self._key, None
        allowed = NEBULA_HOSTS | {_env_host(BASE_URL_ENV), _env_host(CATALOG_URL_ENV)}
        if host in allowed:
            return self._key, None
        hint = (
            f"{API_KEY_ENV} is set but only goes to {PROVIDER_NAME}'s hosts or the host of "
            f"{BASE_URL_ENV}; pass api_key=... to send a key to {host}"
        )
        return None, hint

    def _build_endpoint(self, target: str, method: str, stall: float | None) -> Endpoint:
        url = httpx.URL(self.url(target))
        key, hint = self._key_for(url.host)
        if key is None and url.host in NEBULA_HOSTS:
            msg = (
                f"No {PROVIDER_NAME} API key: set the {API_KEY_ENV} environment variable "
                f"or pass api_key=..."
            )
            raise NebulaAuthenticationError(msg)
        # A default header replaces ours of the same name, however either is spelt.
        given = {name.lower() for name in self._headers}
        headers = MaskedHeaders(
            {name: value for name, value in _STANDARD_HEADERS if name.lower() not in given}
        )
        headers.update(self._headers)
        if key is not None:
            headers["Authorization"] = f"Bearer {key.get_secret_value()}"
            if url.scheme == "http" and not _is_loopback(url.host):
                logger.warning(
                    "Sending the %s API key over plain http:// to %s: anyone on the path "
                    "can read it; use https://",
                    PROVIDER_NAME,
                    url.host,
                )
        return Endpoint(
            url=str(url),
            headers=headers,
            redactor=self.redactor,
            retry=self._retry,
            timeouts=self._timeouts,
            max_response_bytes=self._max_response_bytes,
            stall=stall,
            auth_hint=hint,
            method=method,
        )
