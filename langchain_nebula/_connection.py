"""The connection every Nebula model class shares: settings, key policy, endpoints, clients.

``NebulaConnection`` is a pydantic base holding the public connection fields. What the
transport needs (parsed URLs, headers with the key, a redactor, retry policy, clients)
is derived from those fields on use and cached until any of them changes, so a
``model_copy(update=...)``, an attribute assignment or an in-place change of
``default_headers`` always reaches the wire; an unchanged model pays one tuple
comparison per call.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import unicodedata
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import httpx
from langchain_core.utils import from_env, secret_from_env
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from langchain_nebula._body import DEFAULT_MAX_RESPONSE_BYTES
from langchain_nebula._clients import ClientConfig, async_client, sync_client
from langchain_nebula._exceptions import NebulaAuthenticationError
from langchain_nebula._http import AsyncClient, SyncClient, Timeout
from langchain_nebula._keywords import move_unknown_keywords
from langchain_nebula._provider import (
    API_KEY_ENV,
    BASE_URL_ENV,
    CATALOG_URL_ENV,
    DEFAULT_BASE_URL,
    NEBULA_HOSTS,
    PROVIDER_NAME,
    USER_AGENT,
)
from langchain_nebula._redaction import Redactor
from langchain_nebula._retry import RetryPolicy
from langchain_nebula._transport import (
    DEFAULT_TIMEOUT,
    Endpoint,
    EventParser,
    asend_json,
    astream_events,
    send_json,
    stream_events,
)

__all__ = ["NebulaConnection", "checked_api_key", "checked_base_url"]

logger = logging.getLogger("langchain_nebula")

T = TypeVar("T")

# Characters a pasted key often carries at its ends that str.strip() keeps.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


_DOUBLE_AUTHORIZATION = (
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


def _checked_headers(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        if not name or not set(name) <= _TOKEN:
            msg = f"default_headers has a header name that HTTP does not allow: {name!r}"
            raise ValueError(msg)
        if not isinstance(value, str) or _bad_header_character(value) is not None:
            msg = f"default_headers[{name!r}] cannot be sent in an HTTP header"
            raise ValueError(msg)
    return headers


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _env_host(name: str) -> str | None:
    value = os.environ.get(name)
    if not value:
        return None
    try:
        return httpx.URL(value.strip()).host or None
    except httpx.InvalidURL:
        return None


@dataclass
class _Wiring:
    """Everything derived from one state of the connection fields."""

    state: tuple[Any, ...]
    base_url: str
    secret: str | None
    key_is_explicit: bool
    redactor: Redactor
    retry: RetryPolicy
    config: ClientConfig
    timeout: Timeout
    max_response_bytes: int
    extra_headers: dict[str, str]
    endpoints: dict[tuple[str, str, float | None], Endpoint] = field(default_factory=dict)

    def key_for(self, host: str) -> tuple[str | None, str | None]:
        """The key to send to ``host``, and a hint for a 401 when it is held back."""
        if self.secret is None:
            return None, None
        if self.key_is_explicit:
            return self.secret, None
        allowed = NEBULA_HOSTS | {_env_host(BASE_URL_ENV), _env_host(CATALOG_URL_ENV)}
        if host in allowed:
            return self.secret, None
        hint = (
            f"{API_KEY_ENV} is set but only goes to {PROVIDER_NAME}'s hosts or the host of "
            f"{BASE_URL_ENV}; pass api_key=... to send a key to {host}"
        )
        return None, hint


class NebulaConnection(BaseModel):
    """Connection settings shared by ``ChatNebula``, ``NebulaEmbeddings`` and the catalog.

    The API key from ``NEBULA_API_KEY`` goes only to Nebula's hosts, or to the host of
    ``NEBULA_BASE_URL`` when that is set; for any other ``base_url`` pass ``api_key``
    explicitly. A key sent over plain ``http://`` to a host that is not loopback logs
    one warning.
    """

    api_key: SecretStr | None = Field(
        default_factory=secret_from_env(API_KEY_ENV, default=None),
        validation_alias=AliasChoices("api_key", "nebula_api_key"),
        validate_default=True,
    )
    """API key; defaults to the ``NEBULA_API_KEY`` environment variable (see above for
    where that one is sent). Surrounding whitespace is removed."""
    base_url: str = Field(
        default_factory=from_env(BASE_URL_ENV, default=DEFAULT_BASE_URL),
        validation_alias=AliasChoices("base_url", "nebula_api_base"),
    )
    """API root ending in ``/v1``; defaults to ``NEBULA_BASE_URL`` or Nebula's. May not
    carry credentials (``user:pass@``)."""
    timeout: float | Timeout | None = Field(
        default=None, validation_alias=AliasChoices("timeout", "request_timeout")
    )
    """Seconds or an ``httpx.Timeout`` (or ``httpx2.Timeout``) for each attempt;
    ``None`` means 5 s to connect and 600 s for the answer. Applied to your own
    ``http_client`` too when set."""
    max_retries: int = Field(default=2, ge=0)
    """Retries after the first attempt on transient failures (not attempts)."""
    total_timeout: float | None = Field(default=None, gt=0)
    """Seconds the whole call may take, all attempts and waits included; no limit by
    default."""
    max_response_bytes: int = Field(default=DEFAULT_MAX_RESPONSE_BYTES, ge=1024)
    """The largest response body accepted, after decompression (and the largest single
    stream event); a larger one raises ``NebulaResponseError``. Default 64 MiB."""
    default_headers: dict[str, str] | None = Field(default=None, repr=False, exclude=True)
    """Headers sent with every request. Never shown in ``repr`` nor serialized (they
    may carry credentials: pass them again after ``load``); an ``Authorization``
    header is refused when an API key is set."""
    http_client: SyncClient | None = Field(default=None, exclude=True)
    """A sync ``httpx.Client`` (or ``httpx2.Client``) to use instead of the shared pooled
    one."""
    http_async_client: AsyncClient | None = Field(default=None, exclude=True)
    """An async ``httpx.AsyncClient`` (or ``httpx2.AsyncClient``) to use instead of the
    per-event-loop pooled one."""

    model_config = ConfigDict(
        populate_by_name=True,
        arbitrary_types_allowed=True,
        hide_input_in_errors=True,
        validate_assignment=True,
    )

    _wiring: _Wiring | None = PrivateAttr(default=None)

    # Request fields a server takes that are not fields of the model class: passed as
    # constructor keywords they are meant, not misspelt (no "did you mean" hint).
    _server_fields: ClassVar[frozenset[str]] = frozenset()
    # Request fields the class sets from its own arguments: model_kwargs may not.
    _own_request_fields: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _collect_unknown_keywords(cls, values: Any) -> Any:
        """Moves keywords that are not fields to ``model_kwargs``, with a warning."""
        if "model_kwargs" not in cls.model_fields:
            return values
        return move_unknown_keywords(cls, values, server_fields=cls._server_fields)

    @field_validator("model_kwargs", mode="after", check_fields=False)
    @classmethod
    def _check_model_kwargs(cls, value: dict[str, Any]) -> dict[str, Any]:
        # A field validator, so an error shows these arguments, never the key.
        clash = set(value) & (set(cls.model_fields) | cls._own_request_fields)
        if clash:
            msg = (
                f"{sorted(clash)} may not be set in model_kwargs: pass them as "
                f"{cls.__name__} arguments"
            )
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _check_connection(self) -> Self:
        self._wired()  # connection settings fail here, at construction, not on first use
        return self

    @field_validator("api_key", mode="after")
    @classmethod
    def _check_api_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        key = checked_api_key(value.get_secret_value())
        return SecretStr(key) if key else None

    @field_validator("base_url", mode="after")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        checked_base_url(value)
        return value

    @field_validator("default_headers", mode="after")
    @classmethod
    def _check_default_headers(
        cls, value: dict[str, str] | None, info: ValidationInfo
    ) -> dict[str, str] | None:
        # A field validator, so an error shows these headers, never the key.
        if value is None:
            return None
        _checked_headers(value)
        key = info.data.get("api_key")
        if key is not None and any(name.lower() == "authorization" for name in value):
            raise ValueError(_DOUBLE_AUTHORIZATION)
        return value

    @property
    def lc_secrets(self) -> dict[str, str]:
        """Constructor arguments that are secrets, and where to load them from."""
        return {"api_key": API_KEY_ENV}

    def __getstate__(self) -> dict[Any, Any]:
        # What is derived is rebuilt on use; pickles and deep copies carry only fields.
        state = super().__getstate__()
        private = state.get("__pydantic_private__")
        if private:
            state["__pydantic_private__"] = {**private, "_wiring": None}
        return state

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with ``update`` applied and validated as the constructor would.

        Pydantic's own ``model_copy`` stores updates unvalidated: a key passed as a
        plain string would stay one (and show in ``repr``), and a bad ``base_url`` would
        go unchecked. Here each update goes through the same checks as assignment.
        """
        copied = super().model_copy(deep=deep)
        for name, value in (update or {}).items():
            setattr(copied, name, value)
        return copied

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Any:
        copied = super().__deepcopy__(memo)
        copied._wiring = None
        return copied

    # -- derived state ----------------------------------------------------------------

    def _wired(self) -> _Wiring:
        """The derived state for the fields as they are now (rebuilt when they change)."""
        headers = self.default_headers
        state = (
            self.api_key,
            self.base_url,
            self.timeout,
            self.max_retries,
            self.total_timeout,
            self.max_response_bytes,
            tuple(headers.items()) if headers else None,
            self.http_client,
            self.http_async_client,
            "api_key" in self.model_fields_set,
        )
        wiring = self._wiring
        if wiring is None or wiring.state != state:
            wiring = self._wiring = self._wire(state)
        return wiring

    def _wire(self, state: tuple[Any, ...]) -> _Wiring:
        base_url = str(checked_base_url(self.base_url)).rstrip("/")
        secret = self.api_key.get_secret_value() if self.api_key else None
        if secret is not None:
            secret = checked_api_key(secret) or None
        extra = _checked_headers(dict(self.default_headers or {}))
        if secret is not None and any(name.lower() == "authorization" for name in extra):
            raise ValueError(_DOUBLE_AUTHORIZATION)
        if self.timeout is None:
            timeout: Timeout = DEFAULT_TIMEOUT
        elif isinstance(self.timeout, float | int):
            timeout = httpx.Timeout(self.timeout)
        else:
            timeout = self.timeout
        return _Wiring(
            state=state,
            base_url=base_url,
            secret=secret,
            key_is_explicit="api_key" in self.model_fields_set,
            redactor=Redactor(secret),
            retry=RetryPolicy(max_retries=self.max_retries, total_timeout=self.total_timeout),
            config=ClientConfig.build(timeout),
            timeout=timeout,
            max_response_bytes=self.max_response_bytes,
            extra_headers=extra,
        )

    def _endpoint(
        self, target: str, *, method: str = "POST", stream_chunk_timeout: float | None = None
    ) -> Endpoint:
        """The endpoint for ``target``: a path under ``base_url`` or an absolute URL.

        Raises:
            NebulaAuthenticationError: If no key would be sent to Nebula's own host.
        """
        wiring = self._wired()
        key = (target, method, stream_chunk_timeout)
        endpoint = wiring.endpoints.get(key)
        if endpoint is None:
            endpoint = wiring.endpoints[key] = self._build_endpoint(
                wiring, target, method, stream_chunk_timeout
            )
        return endpoint

    def _build_endpoint(
        self, wiring: _Wiring, target: str, method: str, stream_chunk_timeout: float | None
    ) -> Endpoint:
        url = httpx.URL(target if "://" in target else f"{wiring.base_url}{target}")  # to read
        secret, hint = wiring.key_for(url.host)
        if secret is None and url.host in NEBULA_HOSTS:
            msg = (
                f"No {PROVIDER_NAME} API key: set the {API_KEY_ENV} environment variable "
                f"or pass api_key=..."
            )
            raise NebulaAuthenticationError(msg)
        headers = {
            "Content-Type": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": USER_AGENT,
            **wiring.extra_headers,
        }
        if secret is not None:
            headers["Authorization"] = f"Bearer {secret}"
            if url.scheme == "http" and not _is_loopback(url.host):
                logger.warning(
                    "Sending the %s API key over plain http:// to %s: anyone on the path "
                    "can read it; use https://",
                    PROVIDER_NAME,
                    url.host,
                )
        user_client = self.http_client is not None or self.http_async_client is not None
        explicit_timeout = user_client and self.timeout is not None
        return Endpoint(
            url=str(url),
            headers=headers,
            redactor=wiring.redactor,
            retry=wiring.retry,
            max_response_bytes=wiring.max_response_bytes,
            timeout=wiring.timeout if explicit_timeout else None,
            stream_chunk_timeout=stream_chunk_timeout,
            auth_hint=hint,
            method=method,
        )

    def _sync_client(self) -> SyncClient:
        return self.http_client or sync_client(self._wired().config)

    def _async_client(self) -> AsyncClient:
        return self.http_async_client or async_client(self._wired().config)

    # -- calls ------------------------------------------------------------------------

    def _call_json(
        self, endpoint: Endpoint, body: bytes
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        return send_json(self._sync_client(), endpoint, body)

    async def _acall_json(
        self, endpoint: Endpoint, body: bytes
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        return await asend_json(self._async_client(), endpoint, body)

    def _call_stream(
        self,
        endpoint: Endpoint,
        body: bytes,
        new_parser: Callable[[Mapping[str, str]], EventParser[T]],
    ) -> Iterator[T]:
        return stream_events(self._sync_client(), endpoint, body, new_parser)

    def _acall_stream(
        self,
        endpoint: Endpoint,
        body: bytes,
        new_parser: Callable[[Mapping[str, str]], EventParser[T]],
    ) -> AsyncIterator[T]:
        return astream_events(self._async_client(), endpoint, body, new_parser)
