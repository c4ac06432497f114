"""``NebulaEmbeddings``: configuration and LangChain plumbing for ``/v1/embeddings``.

The wire mapping lives in ``_wire.embeddings`` (pure); HTTP, pooling, retries, typed
errors and key handling come from the client the settings give (``nebula_client()``).
This module cuts the input into batches, runs them with bounded concurrency (threads
for sync calls, tasks for async ones) and falls back from base64 to float answers for
a server that refuses base64.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Final

from langchain_core.embeddings import Embeddings
from langchain_core.load.serializable import Serializable
from pydantic import (
    AliasChoices,
    Field,
    PrivateAttr,
    SecretStr,
)

from langchain_nebula._http.client import NebulaClient
from langchain_nebula._http.libraries import AsyncClient, SyncClient, Timeout
from langchain_nebula._settings import ConnectionSettings
from langchain_nebula._wire.embeddings import (
    EncodingFormat,
    batched,
    check_dimensions,
    check_texts,
    embedding_request,
    map_embeddings,
)
from langchain_nebula.errors import NebulaBadRequestError, NebulaContextOverflowError

__all__ = ["DEFAULT_EMBEDDING_MODEL", "MAX_CHUNK_SIZE", "NebulaEmbeddings"]

logger = logging.getLogger("langchain_nebula")

DEFAULT_EMBEDDING_MODEL: Final = "BAAI/bge-large-en-v1.5"
MAX_CHUNK_SIZE: Final = 2048
"""The most inputs OpenAI's API takes in one request; OpenAI-compatible servers follow."""
_EMBEDDINGS_PATH: Final = "/embeddings"
# Request fields of OpenAI-compatible embedding servers that are not fields here:
# passed as keywords they are meant, not misspelt.
_SERVER_FIELDS: Final = frozenset(
    {"user", "input_type", "truncate_prompt_tokens", "add_special_tokens", "normalize", "priority"}
)
# Request fields model_kwargs may not set: the class sets them.
_OWN_REQUEST_FIELDS: Final = frozenset({"input", "model", "encoding_format", "dimensions"})


class NebulaEmbeddings(ConnectionSettings, Embeddings, Serializable):
    """Embeddings from the Nebula Block inference API (OpenAI-compatible).

    Setup:
        Install ``langchain-nebulablock`` and set ``NEBULA_API_KEY``::

            pip install -U langchain-nebulablock
            export NEBULA_API_KEY="your-api-key"

        Any OpenAI-compatible ``/v1/embeddings`` server (vLLM, llama.cpp, LiteLLM)
        works too: pass its ``base_url``.

    Key init args — embedding params:
        model: Embedding model id, e.g. ``"BAAI/bge-large-en-v1.5"``.
        dimensions: Ask for vectors of this length (models that support it only);
            not sent when unset.
        chunk_size: Texts per request (at most 2048).
        max_concurrency: Requests in flight at once when the texts span several.
        encoding_format: ``"base64"`` (default: smaller and faster to decode) or
            ``"float"``. A server that refuses base64 is asked again for floats,
            once, and then always for this instance.
        model_kwargs: Extra top-level request fields (e.g. ``user``).

    Key init args — client params:
        api_key: Nebula API key; read from ``NEBULA_API_KEY`` if not passed.
        base_url: API root; read from ``NEBULA_BASE_URL``, default Nebula's.
        timeout: Seconds, or an ``httpx.Timeout``. Default: 5 s connect, 600 s read.
        max_retries: Retries (not attempts) of each request on 408/409/429/5xx,
            timeouts and connection errors. Default 2.
        default_headers: Headers sent with every request.
        http_client, http_async_client: Your own httpx clients.

    Instantiate:
        .. code-block:: python

            from langchain_nebula import NebulaEmbeddings

            embeddings = NebulaEmbeddings(model="BAAI/bge-large-en-v1.5")

    Embed single text:
        .. code-block:: python

            vector = embeddings.embed_query("What is the meaning of life?")
            len(vector)  # 1024

    Embed multiple texts:
        .. code-block:: python

            vectors = embeddings.embed_documents(["Document 1", "Document 2"])

    Async:
        .. code-block:: python

            vector = await embeddings.aembed_query("What is the meaning of life?")
            vectors = await embeddings.aembed_documents(["Document 1", "Document 2"])
    """

    model: str = Field(
        default=DEFAULT_EMBEDDING_MODEL, validation_alias=AliasChoices("model", "model_name")
    )
    """Embedding model id, as Nebula lists it. Unknown ids are passed through."""
    dimensions: int | None = Field(default=None, ge=1)
    """Length of the vectors to ask for, for models that can shorten theirs; sent only
    when set. A server answering with another length raises ``NebulaResponseError``."""
    chunk_size: int = Field(default=1000, ge=1, le=MAX_CHUNK_SIZE)
    """Texts sent per request; longer lists are split, and the vectors joined in order."""
    max_concurrency: int = Field(default=4, ge=1)
    """Requests in flight at once for one call whose texts span several requests."""
    encoding_format: EncodingFormat = "base64"
    """How vectors travel: ``"base64"`` (little-endian float32, about a quarter of the
    bytes of JSON numbers and several times faster to decode) or ``"float"``. Answers in
    either form are read whatever was asked. If a server refuses base64 with a client
    error, the request is sent again asking for floats, and this instance asks that
    server for floats from then on."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra top-level request fields. Unknown constructor keywords land here too, with
    a warning."""

    # Endpoints (URLs) that refused base64: asked for floats from then on.
    _float_only: frozenset[str] = PrivateAttr(default=frozenset())

    _server_fields = _SERVER_FIELDS
    _own_request_fields = _OWN_REQUEST_FIELDS

    if TYPE_CHECKING:
        # What type checkers see: api_key takes a plain str, legacy spellings work.
        # tests/unit_tests/test_typing.py keeps it in step with the fields.
        def __init__(
            self,
            *,
            model: str = ...,
            dimensions: int | None = ...,
            chunk_size: int = ...,
            max_concurrency: int = ...,
            encoding_format: EncodingFormat = ...,
            model_kwargs: dict[str, Any] = ...,
            api_key: str | SecretStr | None = ...,
            base_url: str = ...,
            timeout: float | Timeout | None = ...,
            max_retries: int = ...,
            total_timeout: float | None = ...,
            max_response_bytes: int = ...,
            max_connections: int = ...,
            retry_accepted_requests: bool = ...,
            default_headers: dict[str, str] | None = ...,
            http_client: SyncClient | None = ...,
            http_async_client: AsyncClient | None = ...,
            # legacy spellings, still accepted
            model_name: str = ...,
            nebula_api_key: str | SecretStr | None = ...,
            nebula_api_base: str = ...,
            openai_api_key: str | SecretStr | None = ...,
            openai_api_base: str = ...,
            request_timeout: float | Timeout | None = ...,
        ) -> None: ...

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """NebulaEmbeddings can be serialized with ``langchain_core.load.dumpd``.

        The key becomes a reference to ``NEBULA_API_KEY``; ``default_headers`` and your
        own clients are left out.
        """
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        """The import path used by LangChain serialization."""
        return ["langchain_nebula", "embeddings"]

    # -- public API -------------------------------------------------------------------

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embeds texts, ``chunk_size`` per request, up to ``max_concurrency`` at once.

        Args:
            texts: The texts to embed.

        Returns:
            One vector per text, in the order of ``texts``; ``[]`` for no texts,
            without a request.

        Raises:
            ValueError: If ``texts`` holds something other than strings, or an empty
                string; the message names its index (before any request).
            NebulaError: A typed error if a request fails; see ``_exceptions``.
        """
        batches = self._batches(texts)
        if len(batches) > 1 and self.max_concurrency > 1:
            return self._joined(self._embed_in_threads(batches))
        return self._joined([self._embed_batch(batch) for batch in batches])

    def embed_query(self, text: str) -> list[float]:
        """Embeds one text.

        Raises:
            ValueError: If ``text`` is not a string, or is empty (before any request).
            NebulaError: A typed error if the request fails.
        """
        return self.embed_documents(_query(text))[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async ``embed_documents``: up to ``max_concurrency`` requests as tasks."""
        batches = self._batches(texts)
        if len(batches) > 1 and self.max_concurrency > 1:
            return self._joined(await self._aembed_in_tasks(batches))
        return self._joined([await self._aembed_batch(batch) for batch in batches])

    async def aembed_query(self, text: str) -> list[float]:
        """Async ``embed_query``."""
        return (await self.aembed_documents(_query(text)))[0]

    # -- shared by sync and async -----------------------------------------------------

    def _batches(self, texts: Sequence[str]) -> list[list[str]]:
        return batched(check_texts(texts), self.chunk_size)

    def _joined(self, results: list[list[list[float]]]) -> list[list[float]]:
        vectors = [vector for batch in results for vector in batch]
        check_dimensions(vectors, self.dimensions)
        return vectors

    def _encoding(self, client: NebulaClient) -> EncodingFormat:
        """The encoding to ask ``client``'s server for."""
        encoding = self.encoding_format
        if encoding == "base64" and client.url(_EMBEDDINGS_PATH) in self._float_only:
            return "float"
        return encoding

    def _request(self, texts: list[str], encoding: EncodingFormat) -> bytes:
        return embedding_request(self.model, texts, encoding, self.dimensions, self.model_kwargs)

    def _remember_floats(self, client: NebulaClient, error: NebulaBadRequestError) -> None:
        url = client.url(_EMBEDDINGS_PATH)
        if url not in self._float_only:
            logger.info(
                "%s refused base64 embeddings (%s); asking it for floats from now on",
                url,
                error.message,
            )
            self._float_only = self._float_only | {url}

    # -- sync I/O ---------------------------------------------------------------------

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        client = self.nebula_client()
        encoding = self._encoding(client)
        try:
            answer, _ = client.post_json(_EMBEDDINGS_PATH, self._request(texts, encoding))
        except NebulaBadRequestError as error:
            if not _may_be_refusing_base64(error, encoding):
                raise
            answer, _ = client.post_json(_EMBEDDINGS_PATH, self._request(texts, "float"))
            self._remember_floats(client, error)
        return map_embeddings(answer, len(texts))

    def _embed_in_threads(self, batches: list[list[str]]) -> list[list[list[float]]]:
        workers = min(self.max_concurrency, len(batches))
        pool = ThreadPoolExecutor(workers, thread_name_prefix="nebula-embeddings")
        try:
            futures = [pool.submit(self._embed_batch, batch) for batch in batches]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in futures:  # the first failure in input order wins
                error = future.exception() if future in done else None
                if error is not None:
                    raise error
            return [future.result() for future in futures]
        finally:
            # After a failure, batches not yet started are dropped; requests in flight
            # finish in their threads and are discarded.
            pool.shutdown(wait=False, cancel_futures=True)

    # -- async I/O --------------------------------------------------------------------

    async def _aembed_batch(self, texts: list[str]) -> list[list[float]]:
        client = self.nebula_client()
        encoding = self._encoding(client)
        try:
            answer, _ = await client.apost_json(_EMBEDDINGS_PATH, self._request(texts, encoding))
        except NebulaBadRequestError as error:
            if not _may_be_refusing_base64(error, encoding):
                raise
            answer, _ = await client.apost_json(_EMBEDDINGS_PATH, self._request(texts, "float"))
            self._remember_floats(client, error)
        return map_embeddings(answer, len(texts))

    async def _aembed_in_tasks(self, batches: list[list[str]]) -> list[list[list[float]]]:
        slots = asyncio.Semaphore(self.max_concurrency)

        async def bounded(batch: list[str]) -> list[list[float]]:
            async with slots:
                return await self._aembed_batch(batch)

        tasks = [asyncio.ensure_future(bounded(batch)) for batch in batches]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            # One failed (or the caller cancelled): stop the rest, and let them unwind
            # so no request outlives the call.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise


def _may_be_refusing_base64(error: NebulaBadRequestError, encoding: EncodingFormat) -> bool:
    """Whether a failed request is worth sending again asking for floats.

    Any client error answered to a base64 request may be the server refusing the
    encoding (400 "base64 encoding is not currently supported", a proxy's 422), and
    servers word it differently; a float request that then succeeds settles it. A
    context overflow, or a failure before any answer, is never about the encoding.
    """
    return (
        encoding == "base64"
        and error.status_code is not None
        and not isinstance(error, NebulaContextOverflowError)
    )


def _query(text: str) -> list[str]:
    if not isinstance(text, str):
        msg = f"text is {type(text).__name__}, not str: only text can be embedded"
        raise ValueError(msg)
    if not text:
        msg = "text is an empty string: there is nothing to embed"
        raise ValueError(msg)
    return [text]
