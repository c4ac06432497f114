"""The connection settings every Nebula model class shares, and the client they derive.

``ConnectionSettings`` is a pydantic base holding the public connection fields and
their validation. Everything derived from them (``NebulaClient``: URLs, headers with
the key, a redactor, retry policy, waits, pooled clients, endpoints) is built on use
and cached until any field changes, so a ``model_copy(update=...)``, an attribute
assignment or an in-place change of ``default_headers`` always reaches the wire; an
unchanged model pays one tuple comparison per call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

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

from langchain_nebula._http.client import (
    DOUBLE_AUTHORIZATION,
    NebulaClient,
    checked_api_key,
    checked_base_url,
    checked_headers,
)
from langchain_nebula._http.decoding import DEFAULT_MAX_RESPONSE_BYTES
from langchain_nebula._http.libraries import AsyncClient, SyncClient, Timeout
from langchain_nebula._http.pools import DEFAULT_MAX_CONNECTIONS
from langchain_nebula._keywords import move_unknown_keywords
from langchain_nebula._provider import API_KEY_ENV, BASE_URL_ENV, DEFAULT_BASE_URL, DISTRIBUTION
from langchain_nebula._version import __version__

__all__ = ["ConnectionSettings"]


class ConnectionSettings(BaseModel):
    """Connection settings shared by ``ChatNebula``, ``NebulaEmbeddings`` and the catalog.

    The API key from ``NEBULA_API_KEY`` goes only to Nebula's hosts, or to the host of
    ``NEBULA_BASE_URL`` when that is set; for any other ``base_url`` pass ``api_key``
    explicitly. A key sent over plain ``http://`` to a host that is not loopback logs
    one warning.
    """

    api_key: SecretStr | None = Field(
        default_factory=secret_from_env(API_KEY_ENV, default=None),
        validation_alias=AliasChoices("api_key", "nebula_api_key", "openai_api_key"),
        validate_default=True,
    )
    """API key; defaults to the ``NEBULA_API_KEY`` environment variable (see above for
    where that one is sent). Surrounding whitespace is removed."""
    base_url: str = Field(
        default_factory=from_env(BASE_URL_ENV, default=DEFAULT_BASE_URL),
        validation_alias=AliasChoices("base_url", "nebula_api_base", "openai_api_base"),
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
    max_connections: int = Field(default=DEFAULT_MAX_CONNECTIONS, ge=1)
    """Streams open at once through the shared pools (one per process for sync calls,
    per event loop for async ones) before the next waits for a connection. A stream
    holds its connection for the whole reply, so a server streaming to N users at once
    wants at least N. Default 1000, as ``ChatOpenAI``'s. Short calls (invoke, batches,
    embeddings) share a pool of their own of at most 100 (or this, if lower), which
    serves bursts faster. Not used with your own ``http_client``."""
    retry_accepted_requests: bool = False
    """Whether a request the server already accepted (answered ``2xx``) may be sent
    again when its answer then fails: a stream that stalls or drops before its first
    chunk, a body cut short or unreadable. Off by default, so each call costs at most
    one generation; an error the server reports with a retryable status (a ``429``
    error event) is retried either way."""
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

    _client: tuple[tuple[Any, ...], NebulaClient] | None = PrivateAttr(default=None)

    # Request fields a server takes that are not fields of the model class: passed as
    # constructor keywords they are meant, not misspelt (no "did you mean" hint).
    _server_fields: ClassVar[frozenset[str]] = frozenset()
    # Request fields the class sets from its own arguments: model_kwargs may not.
    _own_request_fields: ClassVar[frozenset[str]] = frozenset()
    # Settings of langchain-openai's classes that have no meaning here, and what to do
    # instead: refused at construction, never sent as request fields.
    _refused_keywords: ClassVar[Mapping[str, str]] = {
        "openai_organization": "Nebula has no organizations; drop it",
        "openai_proxy": "pass http_client=httpx.Client(proxy=...) instead",
        "tiktoken_model_name": "token counts come from the server (see token_counting)",
        "use_responses_api": "Nebula serves the Chat Completions API only",
        "use_previous_response_id": "Nebula serves the Chat Completions API only",
        "default_query": "put query parameters in base_url",
    }

    @model_validator(mode="before")
    @classmethod
    def _collect_unknown_keywords(cls, values: Any) -> Any:
        """Moves keywords that are not fields to ``model_kwargs``, with a warning."""
        if "model_kwargs" not in cls.model_fields:
            return values
        return move_unknown_keywords(
            cls, values, server_fields=cls._server_fields, refused=cls._refused_keywords
        )

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
    def _set_nebula_version(self) -> Self:
        # Chat models record package versions in metadata["lc_versions"] for tracing,
        # as langchain-core and its partner packages do; embeddings have no metadata.
        add_version = getattr(self, "_add_version", None)
        if add_version is not None:
            add_version(DISTRIBUTION, __version__)
        return self

    @model_validator(mode="after")
    def _check_connection(self) -> Self:
        self.nebula_client()  # settings fail here, at construction, not on first use
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
        checked_headers(value)
        key = info.data.get("api_key")
        if key is not None and any(name.lower() == "authorization" for name in value):
            raise ValueError(DOUBLE_AUTHORIZATION)
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
            state["__pydantic_private__"] = {**private, "_client": None}
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
        copied._client = None
        return copied

    # -- the client -------------------------------------------------------------------

    def nebula_client(self) -> NebulaClient:
        """The client for the settings as they are now (rebuilt when any changes).

        Every request of this model goes through it; the catalog and token counting
        use it too.
        """
        headers = self.default_headers
        state = (
            self.api_key,
            self.base_url,
            self.timeout,
            self.max_retries,
            self.total_timeout,
            self.max_response_bytes,
            self.max_connections,
            self.retry_accepted_requests,
            tuple(headers.items()) if headers else None,
            self.http_client,
            self.http_async_client,
            "api_key" in self.model_fields_set,
        )
        cached = self._client
        if cached is not None and cached[0] == state:
            return cached[1]
        client = NebulaClient(
            base_url=self.base_url,
            api_key=self.api_key,
            key_is_explicit="api_key" in self.model_fields_set,
            timeout=self.timeout,
            total_timeout=self.total_timeout,
            max_retries=self.max_retries,
            max_response_bytes=self.max_response_bytes,
            max_connections=self.max_connections,
            retry_accepted_requests=self.retry_accepted_requests,
            headers=headers,
            http_client=self.http_client,
            http_async_client=self.http_async_client,
        )
        self._client = (state, client)
        return client
