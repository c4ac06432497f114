"""``ChatNebula``: configuration and LangChain plumbing.

The wire mapping lives in ``_messages`` (request), ``_responses`` and ``_streaming``
(response); HTTP, pooling and retries live in ``_transport``. This module only wires
them into ``BaseChatModel``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from functools import partial
from operator import itemgetter
from typing import Any, Final, Literal, Self, cast

import httpx
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import (
    BaseChatModel,
    LangSmithParams,
    LanguageModelInput,
    ModelProfile,
)
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.base import OutputParserLike
from langchain_core.output_parsers.openai_tools import (
    JsonOutputKeyToolsParser,
    PydanticToolsParser,
)
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils import from_env, secret_from_env
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, model_validator

from langchain_nebula._exceptions import NebulaAuthenticationError
from langchain_nebula._messages import map_messages
from langchain_nebula._profiles import ReasoningForm, profile_for, reasoning_form_for
from langchain_nebula._reasoning import ReasoningParser
from langchain_nebula._responses import map_completion
from langchain_nebula._streaming import StreamParser
from langchain_nebula._tools import (
    ToolChoice,
    ToolLike,
    format_tools,
    json_schema_format,
    normalise_tool_choice,
    schema_name,
)
from langchain_nebula._transport import (
    DEFAULT_TIMEOUT,
    AsyncPool,
    ClientConfig,
    Endpoint,
    asend_json,
    astream_chunks,
    async_client,
    build_endpoint,
    send_json,
    stream_chunks,
    sync_client,
)

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MODEL", "ChatNebula"]

DEFAULT_MODEL: Final = "meta-llama/Llama-3.3-70B-Instruct"
DEFAULT_BASE_URL: Final = "https://inference.nebulablock.com/v1"
_NEBULA_HOST: Final = "inference.nebulablock.com"

# Sampling fields sent only when set, under their wire names.
_SAMPLING_FIELDS: Final = (
    "temperature",
    "max_tokens",
    "top_p",
    "stop",
    "seed",
    "n",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
)
# json.dumps with options builds a new encoder per call; build ours once.
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# Call-time keywords that steer this class rather than go on the wire.
_CONTROL_KWARGS: Final = frozenset({"stream", "stream_usage"})


class ChatNebula(BaseChatModel):
    """Chat model for the Nebula Block inference API (OpenAI-compatible).

    Setup:
        Install ``langchain-nebula`` and set ``NEBULA_API_KEY``::

            pip install -U langchain-nebula
            export NEBULA_API_KEY="your-api-key"

        Any OpenAI-compatible server (vLLM, llama.cpp, LiteLLM) works too: pass its
        ``base_url``; no key is needed when the server asks for none.

    Key init args — completion params:
        model: Model id, e.g. ``"meta-llama/Llama-3.3-70B-Instruct"``.
        temperature: Sampling temperature (0 to 2).
        max_tokens: Maximum number of tokens to generate.
        top_p, stop, seed, n, presence_penalty, frequency_penalty: As in OpenAI's API.
        logprobs, top_logprobs: Return token log-probabilities.
        model_kwargs: Extra top-level fields for the request body (e.g. ``top_k``).
        extra_body: Fields merged into the request body last.

    Key init args — client params:
        api_key: Nebula API key; read from ``NEBULA_API_KEY`` if not passed.
        base_url: API root; read from ``NEBULA_BASE_URL``, default Nebula's.
        timeout: Seconds, or an ``httpx.Timeout``. Default: 5 s connect, 600 s read.
        max_retries: Retries (not attempts) on 408/409/429/5xx, timeouts and
            connection errors. Default 2.
        default_headers: Headers sent with every request.
        http_client, http_async_client: Your own httpx clients.

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

    Async:
        .. code-block:: python

            await model.ainvoke("Hello")

    Image input:
        .. code-block:: python

            from langchain_core.messages import HumanMessage

            model = ChatNebula(model="Qwen/Qwen2.5-VL-7B-Instruct")
            model.invoke(
                [
                    HumanMessage(
                        content=[
                            {"type": "text", "text": "What is in this image?"},
                            {"type": "image", "url": "https://example.com/cat.png"},
                        ]
                    )
                ]
            )

    Token usage:
        .. code-block:: python

            model.invoke("Hello").usage_metadata
            # {'input_tokens': 9, 'output_tokens': 8, 'total_tokens': 17}
    """

    model: str = Field(default=DEFAULT_MODEL, alias="model_name")
    """Model id, as Nebula lists it. Unknown ids are passed through, never rejected."""
    api_key: SecretStr | None = Field(
        default_factory=secret_from_env("NEBULA_API_KEY", default=None),
        alias="nebula_api_key",
    )
    """API key; defaults to the ``NEBULA_API_KEY`` environment variable."""
    base_url: str = Field(
        default_factory=from_env("NEBULA_BASE_URL", default=DEFAULT_BASE_URL),
        alias="nebula_api_base",
    )
    """API root ending in ``/v1``; defaults to ``NEBULA_BASE_URL`` or Nebula's."""
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    """Sampling temperature."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Maximum number of tokens to generate."""
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    """Nucleus sampling probability mass."""
    stop: list[str] | str | None = Field(default=None, alias="stop_sequences")
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
    timeout: float | httpx.Timeout | None = Field(default=None, alias="request_timeout")
    """Seconds or an ``httpx.Timeout``; ``None`` means 5 s connect, 600 s read."""
    max_retries: int = Field(default=2, ge=0)
    """Retries after the first attempt on transient failures."""
    streaming: bool = False
    """Whether ``invoke`` streams under the hood (callbacks see every token)."""
    stream_usage: bool = True
    """Whether streams ask for and report token usage."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra top-level request fields (e.g. vLLM's ``top_k``, ``min_p``)."""
    extra_body: dict[str, Any] | None = None
    """Fields merged into the request body last; overrides everything else."""
    default_headers: dict[str, str] | None = None
    """Headers sent with every request."""
    reasoning_parser: ReasoningParser = "auto"
    """Where reasoning models' thinking is found: ``"field"`` reads the server's
    ``reasoning_content``/``reasoning`` fields; ``"think_tags"`` also splits
    ``<think>…</think>`` out of the content (the opening tag may be missing);
    ``"none"`` leaves the answer exactly as sent; ``"auto"`` (default) uses
    ``"think_tags"`` for models known to think in tags (DeepSeek-R1 family, QwQ) and
    ``"field"`` for every other model, so no other model's text is ever split."""
    reasoning_in_history: bool = False
    """Send earlier AI messages' reasoning back as ``reasoning_content`` (for servers
    that require it); by default reasoning is not sent back."""
    http_client: httpx.Client | None = Field(default=None, exclude=True)
    """A sync httpx client to use instead of the shared pooled one."""
    http_async_client: httpx.AsyncClient | None = Field(default=None, exclude=True)
    """An async httpx client to use instead of the per-event-loop pooled one."""

    model_config = ConfigDict(populate_by_name=True)

    _endpoint: Endpoint = PrivateAttr()
    _client_config: ClientConfig = PrivateAttr()
    _needs_key: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _normalise(self) -> Self:
        clash = set(self.model_kwargs) & set(type(self).model_fields)
        if clash:
            msg = f"pass {sorted(clash)} as ChatNebula arguments, not in model_kwargs"
            raise ValueError(msg)
        secret = self.api_key.get_secret_value() if self.api_key else None
        base_url = self.base_url.rstrip("/")
        self._endpoint = build_endpoint(
            f"{base_url}/chat/completions",
            secret=secret,
            max_retries=self.max_retries,
            extra_headers=self.default_headers,
        )
        self._needs_key = secret is None and httpx.URL(base_url).host == _NEBULA_HOST
        if self.timeout is None:
            timeout = DEFAULT_TIMEOUT
        elif isinstance(self.timeout, httpx.Timeout):
            timeout = self.timeout
        else:
            timeout = httpx.Timeout(self.timeout)
        self._client_config = ClientConfig.build(timeout)
        return self

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
    def lc_secrets(self) -> dict[str, str]:
        """Constructor arguments that are secrets, and where to load them from."""
        return {"api_key": "NEBULA_API_KEY"}

    @property
    def _default_params(self) -> dict[str, Any]:
        params = {
            name: value for name in _SAMPLING_FIELDS if (value := getattr(self, name)) is not None
        }
        return {"model": self.model, **params, **self.model_kwargs}

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return self._default_params

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="nebula",
            ls_model_name=kwargs.get("model") or self.model,
            ls_model_type="chat",
        )
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        stop_sequences = stop or kwargs.get("stop") or self.stop
        if stop_sequences:
            params["ls_stop"] = (
                [stop_sequences] if isinstance(stop_sequences, str) else stop_sequences
            )
        return params

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
            ValueError: If ``tool_choice`` names no bound tool or has an unknown form.

        Example:
            .. code-block:: python

                def add(a: int, b: int) -> int:
                    '''Add two integers.'''
                    return a + b

                model.bind_tools([add], tool_choice="add").invoke("What is 2 + 3?")
        """
        formatted = format_tools(tools, strict=strict)
        names = [tool["function"]["name"] for tool in formatted]
        choice = normalise_tool_choice(tool_choice, names)
        if choice is not None:
            kwargs["tool_choice"] = choice
        if parallel_tool_calls is not None:
            kwargs["parallel_tool_calls"] = parallel_tool_calls
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        method: Literal["json_schema", "function_calling", "json_mode"] = "json_schema",
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
            **kwargs: Other request fields to bind.

        Returns:
            A runnable producing the parsed object (or the ``include_raw`` dict).
            Streaming yields progressively more complete objects for dict schemas.

        Raises:
            ValueError: If ``method`` is not one of the three above.

        Example:
            .. code-block:: python

                from pydantic import BaseModel


                class City(BaseModel):
                    name: str
                    country: str


                model.with_structured_output(City).invoke("Where is the Louvre?")
        """
        model_class = (
            cast("type[BaseModel]", schema)
            if isinstance(schema, type) and is_basemodel_subclass(schema)
            else None
        )
        trace = {"kwargs": {"method": method, "strict": strict}, "schema": schema}
        parser: OutputParserLike[Any]
        if method == "function_calling":
            name = schema_name(schema)
            llm = self.bind_tools(
                [schema],
                tool_choice=name,
                strict=strict,
                ls_structured_output_format=trace,
                **kwargs,
            )
            parser = (
                PydanticToolsParser(tools=[model_class], first_tool_only=True)
                if model_class
                else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
            )
        elif method in ("json_schema", "json_mode"):
            response_format = (
                json_schema_format(schema, strict=strict)
                if method == "json_schema"
                else {"type": "json_object"}
            )
            llm = self.bind(
                response_format=response_format, ls_structured_output_format=trace, **kwargs
            )
            parser = (
                PydanticOutputParser(pydantic_object=model_class)
                if model_class
                else JsonOutputParser()
            )
        else:
            msg = f"method must be 'json_schema', 'function_calling' or 'json_mode', not {method!r}"
            raise ValueError(msg)
        if not include_raw:
            return llm | parser
        parse = RunnablePassthrough.assign(
            parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
        )
        keep_raw = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parse.with_fallbacks(
            [keep_raw], exception_key="parsing_error"
        )

    def _combine_llm_outputs(self, llm_outputs: list[dict[str, Any] | None], /) -> dict[str, Any]:
        combined: dict[str, Any] = {"model_name": self.model}
        totals: dict[str, int] = {}
        for output in llm_outputs:
            if not output:
                continue
            combined["model_name"] = output.get("model_name") or combined["model_name"]
            for key, value in (output.get("token_usage") or {}).items():
                if isinstance(value, int):
                    totals[key] = totals.get(key, 0) + value
        if totals:
            combined["token_usage"] = totals
        return combined

    def _request_body(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        *,
        stream: bool,
    ) -> tuple[bytes, ReasoningForm]:
        """Builds the JSON body and picks how to read reasoning from the answer.

        Raises ``ValueError`` on bad input, before any I/O.
        """
        if self._needs_key:
            msg = (
                "No Nebula API key: set the NEBULA_API_KEY environment variable "
                "or pass api_key=... to ChatNebula"
            )
            raise NebulaAuthenticationError(msg)
        wire_messages = map_messages(messages, reasoning_in_history=self.reasoning_in_history)
        payload: dict[str, Any] = {**self._default_params, "messages": wire_messages}
        for key, value in kwargs.items():
            if value is not None and key not in _CONTROL_KWARGS:
                payload[key] = value
        if stop is not None:
            payload["stop"] = stop
        if stream:
            if (payload.get("n") or 1) > 1:
                msg = "n > 1 cannot be streamed; use invoke/generate for several choices"
                raise ValueError(msg)
            payload["stream"] = True
            if kwargs.get("stream_usage", self.stream_usage):
                payload.setdefault("stream_options", {"include_usage": True})
        if self.extra_body:
            payload.update(self.extra_body)
        body = _encode_json(payload).encode()
        return body, self._reasoning_form(str(payload["model"]))

    def _reasoning_form(self, model: str) -> ReasoningForm:
        if self.reasoning_parser == "auto":
            return "think_tags" if reasoning_form_for(model) == "think_tags" else "field"
        return self.reasoning_parser

    def _resolve_model_profile(self) -> ModelProfile | None:
        return profile_for(self.model)

    def _sync_client(self) -> httpx.Client:
        return self.http_client or sync_client(self._client_config)

    def _async_pool(self) -> AsyncPool:
        if self.http_async_client is not None:
            return AsyncPool(self.http_async_client)
        return async_client(self._client_config)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        body, reasoning = self._request_body(messages, stop, kwargs, stream=False)
        data = send_json(self._sync_client(), self._endpoint, body)
        return map_completion(data, reasoning)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        body, reasoning = self._request_body(messages, stop, kwargs, stream=False)
        data = await asend_json(self._async_pool(), self._endpoint, body)
        return map_completion(data, reasoning)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        body, reasoning = self._request_body(messages, stop, kwargs, stream=True)
        new_parser = partial(StreamParser, secret=self._endpoint.secret, reasoning=reasoning)
        for chunk in stream_chunks(self._sync_client(), self._endpoint, body, new_parser):
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
        body, reasoning = self._request_body(messages, stop, kwargs, stream=True)
        new_parser = partial(StreamParser, secret=self._endpoint.secret, reasoning=reasoning)
        async for chunk in astream_chunks(self._async_pool(), self._endpoint, body, new_parser):
            if run_manager:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk
