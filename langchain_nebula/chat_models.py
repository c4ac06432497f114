"""``ChatNebula``: configuration and LangChain plumbing.

The wire mapping lives in ``_wire`` (``request`` builds the body; ``completions`` and
``chunks`` read the answer); HTTP, pooling and retries live behind the client that
``ConnectionSettings.nebula_client()`` gives. This module only wires them into
``BaseChatModel``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, overload

from langchain_core.caches import BaseCache
from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
    Callbacks,
)
from langchain_core.language_models import (
    BaseChatModel,
    LangSmithParams,
    LanguageModelInput,
    ModelProfile,
)
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.block_translators import register_translator
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.rate_limiters import BaseRateLimiter
from langchain_core.runnables import Runnable
from pydantic import AliasChoices, BaseModel, Field, PrivateAttr, SecretStr

from langchain_nebula._http.libraries import AsyncClient, SyncClient, Timeout
from langchain_nebula._provider import DEFAULT_BASE_URL, PROVIDER
from langchain_nebula._settings import ConnectionSettings
from langchain_nebula._structured import (
    achecked_chunks,
    checked_chunks,
    checked_result,
    structured_output,
)
from langchain_nebula._token_counting import ServerTokenizer, TokenCounting
from langchain_nebula._wire.chunks import stream_parsers
from langchain_nebula._wire.completions import combine_llm_outputs, map_completion
from langchain_nebula._wire.content_blocks import translate_content, translate_content_chunk
from langchain_nebula._wire.model_facts import profile_for
from langchain_nebula._wire.reasoning import ReasoningParser
from langchain_nebula._wire.request import (
    SAMPLING_FIELDS,
    SERVER_FIELDS,
    ChatRequest,
    ReasoningLevel,
    chat_request,
    langsmith_params,
)
from langchain_nebula._wire.tools import StructuredMethod, ToolChoice, ToolLike, tool_binding

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MODEL", "ChatNebula"]

register_translator(PROVIDER, translate_content, translate_content_chunk)

_Model = TypeVar("_Model", bound=BaseModel)
logger = logging.getLogger("langchain_nebula")

DEFAULT_MODEL: Final = "meta-llama/Llama-3.3-70B-Instruct"
_CHAT_PATH: Final = "/chat/completions"


class ChatNebula(ConnectionSettings, BaseChatModel):
    """Chat model for the Nebula Block inference API (OpenAI-compatible).

    Setup:
        Install ``langchain-nebulablock`` and set ``NEBULA_API_KEY``::

            pip install -U langchain-nebulablock
            export NEBULA_API_KEY="your-api-key"

        Any OpenAI-compatible server (vLLM, llama.cpp, LiteLLM) works too: pass its
        ``base_url``; no key is needed when the server asks for none.

    Key init args: ``model``, the sampling fields (``temperature``, ``max_tokens``,
    ``top_p``, ``stop``, ``seed``, ``n``, penalties, ``logprobs``), ``reasoning``,
    ``model_kwargs``/``extra_body``, and the connection (``api_key``, ``base_url``,
    ``timeout``, ``max_retries``, ``default_headers``, your own ``http_client``):
    each field's documentation below.

    Instantiate:
        .. code-block:: python

            from langchain_nebula import ChatNebula

            model = ChatNebula(model="meta-llama/Llama-3.3-70B-Instruct", temperature=0)

    Invoke:
        .. code-block:: python

            model.invoke("Name three colours.").content

    Stream:
        .. code-block:: python

            for chunk in model.stream("Count to five."):
                print(chunk.text, end="")

    Async (``ainvoke``, ``astream``), images, tools, structured output, reasoning:
    see docs/chat.md.
    """

    model: str = Field(default=DEFAULT_MODEL, validation_alias=AliasChoices("model", "model_name"))
    """Model id, as Nebula lists it. Unknown ids are passed through, never rejected."""
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    """Sampling temperature."""
    max_tokens: int | None = Field(
        default=None, ge=1, validation_alias=AliasChoices("max_tokens", "max_completion_tokens")
    )
    """Maximum number of tokens to generate (``max_completion_tokens`` is accepted too)."""
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    """Nucleus sampling probability mass."""
    stop: list[str] | str | None = Field(
        default=None, validation_alias=AliasChoices("stop", "stop_sequences")
    )
    """Stop sequences."""
    seed: int | None = None
    """Seed for sampling, where the model supports it."""
    n: int | None = Field(default=None, ge=1)
    """Number of choices to generate (not with streaming)."""
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    """Penalty for tokens already present."""
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    """Penalty proportional to token frequency."""
    logprobs: bool | None = None
    """Whether to return log-probabilities of the output tokens."""
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    """How many alternatives per token to return with ``logprobs``."""
    streaming: bool = False
    """Whether ``invoke`` streams under the hood (callbacks see every token)."""
    stream_usage: bool = True
    """Whether streams ask for and report token usage."""
    stream_chunk_timeout: float | None = Field(default=120.0, gt=0)
    """Seconds a stream may go without a complete event (keep-alive comments and bytes
    that never finish an event do not count) before it fails with
    ``NebulaTimeoutError``; ``None`` for no limit. Default 120 s."""
    include_response_headers: bool = False
    """Put the HTTP response headers in ``response_metadata["headers"]`` (on invoke, and
    on the first chunk of a stream): rate-limit counters, a proxy's call id and cost."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra top-level request fields (e.g. vLLM's ``top_k``, ``min_p``). Unknown
    constructor keywords land here too, with a warning."""
    extra_body: dict[str, Any] | None = None
    """Fields merged into the request body last; overrides everything else."""
    reasoning_parser: ReasoningParser = "auto"
    """Where reasoning models' thinking is read from. Text is reasoning only when the
    reply shows it is: ``"auto"`` (default) reads a ``reasoning_content``/``reasoning``
    field, a ``<think>`` section that opens the reply, and, for models known to think
    in tags (DeepSeek-R1 family, QwQ, Qwen3), the text before a ``</think>``;
    ``"think_tags"`` applies that last rule to every model; ``"field"`` reads only the
    fields; ``"none"`` leaves the reply exactly as sent. See docs/chat.md."""
    reasoning: bool | ReasoningLevel | None = Field(
        default=None, validation_alias=AliasChoices("reasoning", "reasoning_effort")
    )
    """Turn a reasoning model's thinking on (``True`` or a level: ``"low"``,
    ``"medium"``, ``"high"``) or off (``False``); ``None`` (default) leaves the server's
    default. Mapped per model family (see docs/chat.md); a model that cannot switch
    raises ``ValueError`` before any request. ``reasoning_effort`` is accepted too, at
    construction and per call."""
    disabled_params: dict[str, Any] | None = None
    """Request fields never to send, as in ``ChatOpenAI``: ``{"parallel_tool_calls":
    None}`` drops the field whatever sets it; ``{"tool_choice": ["required"]}`` drops
    only those values. For servers that reject a field this package would send."""
    reasoning_in_history: bool = False
    """Send earlier AI messages' reasoning back as ``reasoning_content`` (for servers
    that require it); by default reasoning is not sent back."""
    token_counting: TokenCounting = "auto"
    """How ``get_num_tokens*`` (and so ``trim_messages`` and summarisation middleware)
    count: ``"server"`` uses the server's tokenizer endpoint (vLLM's and llama.cpp's
    ``/tokenize``), exact; ``"approximate"`` estimates about four characters a token,
    offline; ``"auto"`` (default) uses the server's if it answers, else the estimate."""

    _tokenizer: ServerTokenizer = PrivateAttr(default_factory=ServerTokenizer)

    if TYPE_CHECKING:
        # What type checkers see: api_key as a plain str too, and the legacy names
        # (pydantic's signature hides both). test_typing.py keeps it in step.
        def __init__(
            self,
            *,
            model: str = ...,
            api_key: str | SecretStr | None = ...,
            base_url: str = ...,
            temperature: float | None = ...,
            max_tokens: int | None = ...,
            max_completion_tokens: int | None = ...,
            top_p: float | None = ...,
            stop: list[str] | str | None = ...,
            seed: int | None = ...,
            n: int | None = ...,
            presence_penalty: float | None = ...,
            frequency_penalty: float | None = ...,
            logprobs: bool | None = ...,
            top_logprobs: int | None = ...,
            timeout: float | Timeout | None = ...,
            max_retries: int = ...,
            total_timeout: float | None = ...,
            max_response_bytes: int = ...,
            max_connections: int = ...,
            retry_accepted_requests: bool = ...,
            streaming: bool = ...,
            stream_usage: bool = ...,
            stream_chunk_timeout: float | None = ...,
            include_response_headers: bool = ...,
            model_kwargs: dict[str, Any] = ...,
            extra_body: dict[str, Any] | None = ...,
            default_headers: dict[str, str] | None = ...,
            reasoning_parser: ReasoningParser = ...,
            reasoning: bool | ReasoningLevel | None = ...,
            reasoning_effort: bool | ReasoningLevel | None = ...,
            disabled_params: dict[str, Any] | None = ...,
            reasoning_in_history: bool = ...,
            token_counting: TokenCounting = ...,
            http_client: SyncClient | None = ...,
            http_async_client: AsyncClient | None = ...,
            # BaseChatModel's own fields
            name: str | None = ...,
            cache: BaseCache | bool | None = ...,
            verbose: bool = ...,
            callbacks: Callbacks = ...,
            tags: list[str] | None = ...,
            metadata: dict[str, Any] | None = ...,
            custom_get_token_ids: Callable[[str], list[int]] | None = ...,
            rate_limiter: BaseRateLimiter | None = ...,
            disable_streaming: bool | Literal["tool_calling"] = ...,
            output_version: str | None = ...,
            profile: ModelProfile | None = ...,
            # legacy spellings, still accepted
            model_name: str = ...,
            nebula_api_key: str | SecretStr | None = ...,
            nebula_api_base: str = ...,
            openai_api_key: str | SecretStr | None = ...,
            openai_api_base: str = ...,
            request_timeout: float | Timeout | None = ...,
            stop_sequences: list[str] | str | None = ...,
        ) -> None: ...

    _server_fields = SERVER_FIELDS

    @property
    def _llm_type(self) -> str:
        return "nebula-chat"

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """ChatNebula can be serialized with ``langchain_core.load.dumpd``."""
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        """The import path used by LangChain serialization."""
        return ["langchain_nebula", "chat_models"]

    @property
    def _default_params(self) -> dict[str, Any]:
        params = {
            name: value for name in SAMPLING_FIELDS if (value := getattr(self, name)) is not None
        }
        return {"model": self.model, **params, **self.model_kwargs}

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return self._default_params

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return langsmith_params(self._default_params, stop, kwargs)

    def bind_tools(
        self,
        tools: Sequence[ToolLike],
        *,
        tool_choice: ToolChoice = None,
        strict: bool | None = None,
        parallel_tool_calls: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Binds tools the model may call.

        Args:
            tools: Pydantic models, TypedDicts, functions, ``BaseTool``s, JSON-schema
                dicts or OpenAI tool dicts.
            tool_choice: ``"auto"``, ``"none"``, ``"required"``, ``"any"`` (same as
                ``"required"``), a tool name, a full OpenAI ``tool_choice`` dict, or
                ``True`` for the single bound tool. With one tool, ``"any"`` and
                ``"required"`` are sent as a named choice, which every vLLM accepts.
            strict: Ask the server to follow each tool's schema exactly.
            parallel_tool_calls: Allow several calls in one turn; sent only when set.
            **kwargs: Other request fields to bind.

        Returns:
            A runnable that returns an ``AIMessage`` whose ``tool_calls`` are parsed.

        Raises:
            ValueError: If ``tool_choice`` names no bound tool or has an unknown form, or
                a tool is a provider's built-in tool (``{"type": "web_search"}``).
        """
        binding = tool_binding(tools, tool_choice, strict, parallel_tool_calls)
        return super().bind(**binding, **kwargs)

    @overload
    def with_structured_output(
        self,
        schema: type[_Model],
        *,
        include_raw: Literal[False] = False,
        method: StructuredMethod = "json_schema",
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, _Model]: ...

    @overload
    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        method: StructuredMethod = "json_schema",
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | Any]: ...

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        method: StructuredMethod = "json_schema",
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | Any]:
        """Returns a runnable whose output follows ``schema``.

        Args:
            schema: A Pydantic class (output is an instance), or a TypedDict class or
                JSON schema dict (output is a dict).
            include_raw: Return ``{"raw", "parsed", "parsing_error"}`` instead of
                raising when the reply does not parse.
            method: ``"json_schema"`` (``response_format`` with the schema; default),
                ``"function_calling"`` (a forced call to a tool shaped like the
                schema) or ``"json_mode"`` (``response_format: json_object``; the
                prompt must describe the schema).
            strict: Ask the server to follow the schema exactly; sent only when set.
            **kwargs: Other request fields to bind; ``tools=[...]`` (with
                ``json_schema``/``json_mode``) binds tools too: a reply calling them
                parses to ``None``.

        Returns:
            A runnable producing the parsed object (or the ``include_raw`` dict).
            Streamed, a Pydantic schema yields one object, once it is complete and
            valid; a dict schema (TypedDict, JSON schema) yields progressively more
            complete dicts, which are partial until the last.

        Raises:
            ValueError: If ``method`` is not one of the three above.

        """
        return structured_output(
            self, schema, include_raw=include_raw, method=method, strict=strict, **kwargs
        )

    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        """Counts the tokens ``messages`` (and ``tools``) take in a request.

        Exact when the server's tokenizer answers (see ``token_counting``); otherwise
        an estimate from langchain-core's ``count_tokens_approximately``, which needs
        no download. A ``custom_get_token_ids`` you set takes precedence.

        Example:
            .. code-block:: python

                model.get_num_tokens_from_messages([HumanMessage("Hello")])
        """
        if self.custom_get_token_ids is not None:
            return super().get_num_tokens_from_messages(messages, tools)
        return self._tokenizer.count_messages(
            self.nebula_client(), self.model, self.token_counting, messages, tools
        )

    def get_num_tokens(self, text: str) -> int:
        """Counts the tokens of ``text`` (exact or estimated as above)."""
        if self.custom_get_token_ids is not None:
            return super().get_num_tokens(text)
        return self._tokenizer.count_text(
            self.nebula_client(), self.model, self.token_counting, text
        )

    def _combine_llm_outputs(self, llm_outputs: list[dict[str, Any] | None], /) -> dict[str, Any]:
        return combine_llm_outputs(llm_outputs, self.model)

    def _request_body(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        *,
        stream: bool,
    ) -> ChatRequest:
        return chat_request(
            self._default_params,
            messages,
            stop,
            kwargs,
            stream=stream,
            stream_usage=self.stream_usage,
            extra_body=self.extra_body,
            reasoning_in_history=self.reasoning_in_history,
            reasoning_parser=self.reasoning_parser,
            reasoning=self.reasoning,
            disabled_params=self.disabled_params,
        )

    def _resolve_model_profile(self) -> ModelProfile | None:
        return profile_for(self.model)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self._request_body(messages, stop, kwargs, stream=False)
        data, headers = self.nebula_client().post_json(_CHAT_PATH, request.body)
        result = map_completion(
            data, request.mode, headers if self.include_response_headers else None
        )
        return checked_result(result, request)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self._request_body(messages, stop, kwargs, stream=False)
        data, headers = await self.nebula_client().apost_json(_CHAT_PATH, request.body)
        result = map_completion(
            data, request.mode, headers if self.include_response_headers else None
        )
        return checked_result(result, request)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        request = self._request_body(messages, stop, kwargs, stream=True)
        client = self.nebula_client()
        chunks = checked_chunks(
            client.stream_events(
                _CHAT_PATH,
                request.body,
                stream_parsers(
                    request.mode, client.redactor, keep_headers=self.include_response_headers
                ),
                stall=self.stream_chunk_timeout,
            ),
            request,
        )
        for chunk in chunks:
            if run_manager:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        request = self._request_body(messages, stop, kwargs, stream=True)
        client = self.nebula_client()
        chunks = achecked_chunks(
            client.astream_events(
                _CHAT_PATH,
                request.body,
                stream_parsers(
                    request.mode, client.redactor, keep_headers=self.include_response_headers
                ),
                stall=self.stream_chunk_timeout,
            ),
            request,
        )
        async for chunk in chunks:
            if run_manager:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk
