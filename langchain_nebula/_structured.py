"""``with_structured_output``: a bound model piped into the parser for its method.

A Pydantic schema is parsed once, from the whole reply, even when streamed: an object
built from half-written JSON (``City(country='')``) would look complete and valid
while it is not. Dict schemas stream partial dicts, which say by their missing keys
that they are partial.

A reply the server cut at the token limit (``finish_reason == "length"``) is refused
with an ``OutputParserException`` saying so, for every schema and method: repaired,
its JSON would pass for a complete object with fields missing. A refusal raises
``NebulaRefusalError`` with the model's words. The model itself applies both rules to
any request whose ``response_format`` asks for JSON (``checked_result``,
``checked_chunks``), so agents using native structured output get the same errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from operator import itemgetter
from typing import Any, cast

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.base import OutputParserLike
from langchain_core.output_parsers.openai_tools import (
    JsonOutputKeyToolsParser,
    PydanticToolsParser,
)
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import (
    Runnable,
    RunnableGenerator,
    RunnableLambda,
    RunnableMap,
    RunnablePassthrough,
)
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import BaseModel, TypeAdapter, ValidationError

from langchain_nebula._wire.request import PARSED_DOWNSTREAM, ChatRequest
from langchain_nebula._wire.tools import StructuredMethod, json_schema_format, schema_name
from langchain_nebula.errors import NebulaRefusalError

__all__ = ["achecked_chunks", "checked_chunks", "checked_result", "structured_output"]

_CUT = (
    "the reply was cut off at the token limit (finish_reason 'length') before the "
    "structured output was complete; raise max_tokens or ask for less"
)


def _check_reply(text: str, refusal: Any, finish_reason: Any) -> None:
    """Raises for a structured reply that was refused or cut short."""
    if isinstance(refusal, str) and refusal:
        raise NebulaRefusalError(refusal)
    if finish_reason == "length":
        raise OutputParserException(_CUT, llm_output=text)


def _check_message(message: BaseMessage) -> None:
    _check_reply(
        message.text,
        message.additional_kwargs.get("refusal"),
        message.response_metadata.get("finish_reason"),
    )


def checked_result(result: ChatResult, request: ChatRequest) -> ChatResult:
    """Applies the structured-output rules to an invoke's result, and parses the schema.

    A reply that calls tools is left alone (an agent's tool turn). With a
    ``response_format`` given as a class, the parsed object goes to
    ``additional_kwargs["parsed"]``, as ``ChatOpenAI`` puts it.
    """
    if not request.structured:
        return result
    for generation in result.generations:
        message = generation.message
        if isinstance(message, AIMessage) and message.tool_calls:
            continue
        _check_message(message)
        if request.schema is not None:
            message.additional_kwargs["parsed"] = _parse(request.schema, message.text)
    return result


def _parse(schema: Any, text: str) -> Any:
    try:
        if isinstance(schema, type) and is_basemodel_subclass(schema):
            return cast("type[BaseModel]", schema).model_validate_json(text)
        if isinstance(schema, type):  # a TypedDict
            return TypeAdapter(schema).validate_json(text)
        return JsonOutputParser().parse(text)
    except (ValidationError, ValueError) as error:
        msg = f"the reply does not match the response_format schema: {error}"
        raise OutputParserException(msg, llm_output=text) from error


class _ReplyWatch:
    """Follows a stream's chunks for what the structured-output rules need at its end."""

    __slots__ = ("finish_reason", "refusal", "text", "tool_calls")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.refusal = ""
        self.finish_reason: Any = None
        self.tool_calls = False

    def see(self, message: BaseMessage) -> None:
        self.text.append(message.text)
        refusal = message.additional_kwargs.get("refusal")
        if isinstance(refusal, str):
            self.refusal += refusal
        self.finish_reason = message.response_metadata.get("finish_reason") or self.finish_reason
        if getattr(message, "tool_call_chunks", None) or getattr(message, "tool_calls", None):
            self.tool_calls = True

    def check(self, *, require_tool_call: bool = False) -> None:
        text = "".join(self.text)
        if require_tool_call and not self.tool_calls:
            _check_reply(text, self.refusal, self.finish_reason)
            msg = f"the model answered in text instead of calling the schema's tool: {text!r}"
            raise OutputParserException(msg, llm_output=text)
        if not self.tool_calls:
            _check_reply(text, self.refusal, self.finish_reason)


def checked_chunks(
    chunks: Iterator[ChatGenerationChunk], request: ChatRequest
) -> Iterator[ChatGenerationChunk]:
    """``chunks``; for a structured request, followed by the checks of ``checked_result``.

    A plain request gets ``chunks`` itself: no extra generator step per chunk.
    """
    return _checked_chunks(chunks) if request.structured else chunks


def _checked_chunks(chunks: Iterator[ChatGenerationChunk]) -> Iterator[ChatGenerationChunk]:
    watch = _ReplyWatch()
    for chunk in chunks:
        watch.see(chunk.message)
        yield chunk
    watch.check()


def achecked_chunks(
    chunks: AsyncIterator[ChatGenerationChunk], request: ChatRequest
) -> AsyncIterator[ChatGenerationChunk]:
    """Async ``checked_chunks``."""
    return _achecked_chunks(chunks) if request.structured else chunks


async def _achecked_chunks(
    chunks: AsyncIterator[ChatGenerationChunk],
) -> AsyncIterator[ChatGenerationChunk]:
    watch = _ReplyWatch()
    async for chunk in chunks:
        watch.see(chunk.message)
        yield chunk
    watch.check()


def _checks(
    *, require_tool_call: bool
) -> tuple[
    Callable[[Iterator[BaseMessage]], Iterator[BaseMessage]],
    Callable[[AsyncIterator[BaseMessage]], AsyncIterator[BaseMessage]],
]:
    """Pass-through steps that raise, once the reply is whole, as the rules say."""

    def checked(messages: Iterator[BaseMessage]) -> Iterator[BaseMessage]:
        watch = _ReplyWatch()
        for message in messages:
            watch.see(message)
            yield message
        watch.check(require_tool_call=require_tool_call)

    async def achecked(messages: AsyncIterator[BaseMessage]) -> AsyncIterator[BaseMessage]:
        watch = _ReplyWatch()
        async for message in messages:
            watch.see(message)
            yield message
        watch.check(require_tool_call=require_tool_call)

    return checked, achecked


def _whole_reply_only(parser: OutputParserLike[Any]) -> Runnable[Any, Any]:
    # A plain function runnable gathers its whole streamed input before it runs, so
    # it yields exactly once: the complete, validated object.
    return RunnableLambda(parser.invoke, afunc=parser.ainvoke, name=type(parser).__name__)


def structured_output(
    model: BaseChatModel,
    schema: dict[str, Any] | type,
    *,
    include_raw: bool,
    method: StructuredMethod,
    strict: bool | None,
    tools: Sequence[Any] | None = None,
    **kwargs: Any,
) -> Runnable[LanguageModelInput, Any]:
    """The runnable ``ChatNebula.with_structured_output`` returns (see there)."""
    model_class = (
        cast("type[BaseModel]", schema)
        if isinstance(schema, type) and is_basemodel_subclass(schema)
        else None
    )
    trace = {"kwargs": {"method": method, "strict": strict}, "schema": schema}
    parser: Runnable[Any, Any]
    if method == "function_calling":
        if tools:
            msg = (
                "tools=[...] combine with method='json_schema' or 'json_mode'; with "
                "'function_calling' the schema's tool is forced and they would never be called"
            )
            raise ValueError(msg)
        name = schema_name(schema)
        disabled = getattr(model, "disabled_params", None) or {}
        if "parallel_tool_calls" not in disabled:
            kwargs.setdefault("parallel_tool_calls", False)  # one call: the answer
        llm = model.bind_tools(
            [schema], tool_choice=name, strict=strict, ls_structured_output_format=trace, **kwargs
        )
        parser = (
            _whole_reply_only(PydanticToolsParser(tools=[model_class], first_tool_only=True))
            if model_class
            else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
        )
    elif method in ("json_schema", "json_mode"):
        response_format = (
            json_schema_format(schema, strict=strict)
            if method == "json_schema"
            else {"type": "json_object"}
        )
        binding: dict[str, Any] = {
            "response_format": response_format,
            "ls_structured_output_format": trace,
            PARSED_DOWNSTREAM: True,
        }
        llm = (
            model.bind_tools(tools, strict=strict, **binding, **kwargs)
            if tools
            else model.bind(**binding, **kwargs)
        )
        parser = (
            _whole_reply_only(PydanticOutputParser(pydantic_object=model_class))
            if model_class
            else JsonOutputParser()
        )
    else:
        msg = f"method must be 'json_schema', 'function_calling' or 'json_mode', not {method!r}"
        raise ValueError(msg)
    # Chunks pass through as they come (dict schemas still stream); a refused, cut or
    # (for function calling) tool-less reply ends the stream with the error.
    checked, achecked = _checks(require_tool_call=method == "function_calling")
    if tools:
        parser = RunnableLambda(_parse_unless_tool_call(parser), name="ParseUnlessToolCall")
    parser = RunnableGenerator(checked, achecked, name="CheckReply") | parser
    if not include_raw:
        return llm | parser
    parse = RunnablePassthrough.assign(
        parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
    )
    keep_raw = RunnablePassthrough.assign(parsed=lambda _: None)
    return RunnableMap(raw=llm) | parse.with_fallbacks([keep_raw], exception_key="parsing_error")


def _parse_unless_tool_call(parser: Runnable[Any, Any]) -> Callable[[BaseMessage], Any]:
    """With tools bound, a reply that calls them has nothing to parse: ``None``."""

    def parse(message: BaseMessage) -> Any:
        if isinstance(message, AIMessage) and message.tool_calls:
            return None
        return parser.invoke(message)

    return parse
