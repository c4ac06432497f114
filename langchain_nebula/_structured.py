"""``with_structured_output``: a bound model piped into the parser for its method.

A Pydantic schema is parsed once, from the whole reply, even when streamed: an object
built from half-written JSON (``City(country='')``) would look complete and valid
while it is not. Dict schemas stream partial dicts, which say by their missing keys
that they are partial.

A reply the server cut at the token limit (``finish_reason == "length"``) is refused
with an ``OutputParserException`` saying so, for every schema and method: repaired,
its JSON would pass for a complete object with fields missing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from operator import itemgetter
from typing import Any, cast

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import BaseMessage
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.base import OutputParserLike
from langchain_core.output_parsers.openai_tools import (
    JsonOutputKeyToolsParser,
    PydanticToolsParser,
)
from langchain_core.runnables import (
    Runnable,
    RunnableGenerator,
    RunnableLambda,
    RunnableMap,
    RunnablePassthrough,
)
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import BaseModel

from langchain_nebula._wire.tools import StructuredMethod, json_schema_format, schema_name

__all__ = ["structured_output"]


def _check_not_cut(message: BaseMessage) -> None:
    if message.response_metadata.get("finish_reason") == "length":
        msg = (
            "the reply was cut off at the token limit (finish_reason 'length') before the "
            "structured output was complete; raise max_tokens or ask for less"
        )
        raise OutputParserException(msg, llm_output=message.text)


def _uncut(messages: Iterator[BaseMessage]) -> Iterator[BaseMessage]:
    for message in messages:
        _check_not_cut(message)
        yield message


async def _auncut(messages: AsyncIterator[BaseMessage]) -> AsyncIterator[BaseMessage]:
    async for message in messages:
        _check_not_cut(message)
        yield message


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
        name = schema_name(schema)
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
        llm = model.bind(
            response_format=response_format, ls_structured_output_format=trace, **kwargs
        )
        parser = (
            _whole_reply_only(PydanticOutputParser(pydantic_object=model_class))
            if model_class
            else JsonOutputParser()
        )
    else:
        msg = f"method must be 'json_schema', 'function_calling' or 'json_mode', not {method!r}"
        raise ValueError(msg)
    # Chunks pass through as they come (dict schemas still stream); the one that
    # carries finish_reason 'length' ends the stream with the error.
    parser = RunnableGenerator(_uncut, _auncut, name="RefuseCutReply") | parser
    if not include_raw:
        return llm | parser
    parse = RunnablePassthrough.assign(
        parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
    )
    keep_raw = RunnablePassthrough.assign(parsed=lambda _: None)
    return RunnableMap(raw=llm) | parse.with_fallbacks([keep_raw], exception_key="parsing_error")
