"""Nebula completions → LangChain ``AIMessage`` results.

Pure functions, no I/O, shared by invoke and stream so both report the same fields.
Servers vary in what they omit: every optional key may be missing, ``null`` or empty.
Anything of the wrong shape becomes a ``NebulaResponseError`` naming what was wrong,
never a raw ``TypeError`` or ``KeyError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage, InvalidToolCall, ToolCall
from langchain_core.messages.ai import InputTokenDetails, OutputTokenDetails, UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ValidationError

from langchain_nebula._exceptions import NebulaResponseError
from langchain_nebula._provider import PROVIDER
from langchain_nebula._reasoning import ReasoningMode, reasoning_field, split_reasoning
from langchain_nebula._transport import decode_json, encode_json_text

__all__ = [
    "MessageText",
    "arguments_text",
    "map_completion",
    "map_tool_calls",
    "map_usage",
    "message_text",
    "response_metadata",
    "token_count",
]


def token_count(value: Any) -> int:
    """A token count as an int: numeric strings are read, anything else is 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and value.is_integer():
        return max(int(value), 0)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    return 0


def map_usage(usage: Mapping[str, Any]) -> UsageMetadata:
    """Maps an OpenAI-style ``usage`` object to LangChain's ``UsageMetadata``."""
    input_tokens = token_count(usage.get("prompt_tokens"))
    output_tokens = token_count(usage.get("completion_tokens"))
    total = usage.get("total_tokens")
    result = UsageMetadata(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=token_count(total) if total is not None else input_tokens + output_tokens,
    )
    prompt_details = usage.get("prompt_tokens_details")
    if isinstance(prompt_details, Mapping):
        input_details = InputTokenDetails()
        if (cached := prompt_details.get("cached_tokens")) is not None:
            input_details["cache_read"] = token_count(cached)
        if (audio := prompt_details.get("audio_tokens")) is not None:
            input_details["audio"] = token_count(audio)
        if input_details:
            result["input_token_details"] = input_details
    completion_details = usage.get("completion_tokens_details")
    if isinstance(completion_details, Mapping):
        output_details = OutputTokenDetails()
        if (reasoning := completion_details.get("reasoning_tokens")) is not None:
            output_details["reasoning"] = token_count(reasoning)
        if (audio := completion_details.get("audio_tokens")) is not None:
            output_details["audio"] = token_count(audio)
        if output_details:
            result["output_token_details"] = output_details
    return result


class MessageText:
    """A message's ``content`` read as text: parts joined, the rest kept aside.

    Attributes:
        text: The text, with the text parts of a list-of-parts content joined.
        refusal: A refusal the model gave instead of an answer, if any.
        other_parts: Parts that are not text, as sent (kept, never dropped).
    """

    __slots__ = ("other_parts", "refusal", "text")

    def __init__(self, text: str, refusal: str = "", other_parts: list[Any] | None = None):
        self.text = text
        self.refusal = refusal
        self.other_parts = other_parts or []


def message_text(content: Any, where: str) -> MessageText:
    """Reads ``content``: a string, ``null``, or a list of parts (some servers send that).

    Raises:
        NebulaResponseError: If ``content`` is none of those.
    """
    if isinstance(content, str):
        return MessageText(content)
    if content is None:
        return MessageText("")
    if not isinstance(content, list):
        msg = f"{where} content is a JSON {type(content).__name__}, not text"
        raise NebulaResponseError(msg, body=str(content)[:200])
    texts: list[str] = []
    refusals: list[str] = []
    others: list[Any] = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part, Mapping) and isinstance(part.get("refusal"), str):
            refusals.append(part["refusal"])
        else:
            others.append(part)
    return MessageText("".join(texts), "".join(refusals), others)


def map_tool_calls(raw_calls: Any) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    """Splits a message's ``tool_calls`` into parsed calls and unparseable ones.

    Arguments that are ``null`` or empty mean "no arguments" (``{}``); arguments that
    are not a JSON object are kept verbatim as an invalid call with the reason, never
    silently replaced.
    """
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    if not isinstance(raw_calls, list):
        return calls, invalid
    for raw in raw_calls:
        raw = raw if isinstance(raw, Mapping) else {}
        function = raw.get("function")
        function = function if isinstance(function, Mapping) else {}
        call_id = raw.get("id")
        call_id = call_id if isinstance(call_id, str) else None
        name = function.get("name")
        arguments = function.get("arguments")
        args, error = _parse_arguments(arguments)
        if error is None and isinstance(name, str) and name:
            calls.append(ToolCall(name=name, args=args, id=call_id, type="tool_call"))
        else:
            invalid.append(
                InvalidToolCall(
                    name=name if isinstance(name, str) else None,
                    args=arguments if isinstance(arguments, str) else arguments_text(arguments),
                    id=call_id,
                    error=error or "tool call has no function name",
                    type="invalid_tool_call",
                )
            )
    return calls, invalid


def arguments_text(arguments: Any) -> str:
    """Tool-call arguments a server sent as JSON (not a string), as the JSON text."""
    try:
        return encode_json_text(arguments)
    except (TypeError, ValueError):
        return str(arguments)


def _parse_arguments(arguments: Any) -> tuple[dict[str, Any], str | None]:
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}, None
    if isinstance(arguments, Mapping):  # some servers send an object, not a string
        return dict(arguments), None
    if not isinstance(arguments, str):
        return {}, f"arguments must be a JSON object, got {type(arguments).__name__}"
    try:
        parsed = decode_json(arguments)
    except (ValueError, RecursionError) as exc:
        return {}, f"arguments are not valid JSON: {exc}"
    if not isinstance(parsed, dict):
        return {}, f"arguments must be a JSON object, got {type(parsed).__name__}"
    return parsed, None


def response_metadata(
    body: Mapping[str, Any], finish_reason: Any, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The metadata both invoke and the final stream chunk report."""
    metadata: dict[str, Any] = {
        "finish_reason": finish_reason,
        "model_name": body.get("model"),
        "id": body.get("id"),
        "model_provider": PROVIDER,
    }
    if (fingerprint := body.get("system_fingerprint")) is not None:
        metadata["system_fingerprint"] = fingerprint
    if headers is not None:
        metadata["headers"] = dict(headers)
    return metadata


def split_content(
    text: str, field: str | None, mode: ReasoningMode, finish_reason: Any
) -> tuple[str, str, bool]:
    """(reasoning, answer, ended inside reasoning) of a whole reply, by the rule."""
    if mode == "none":  # as sent: a server's reasoning field, verbatim, and the content
        return field or "", text, False
    if field is not None:
        reasoning = field.strip()
        return reasoning, text.lstrip() if reasoning else text, False
    if mode == "field" or not text:
        return "", text, False
    return split_reasoning(text, implicit_open=mode == "tags", finish_reason=finish_reason)


def map_completion(
    body: Mapping[str, Any],
    mode: ReasoningMode = "field",
    headers: Mapping[str, str] | None = None,
) -> ChatResult:
    """Maps a ``chat.completion`` object to a ``ChatResult``, one generation per choice.

    Args:
        body: The parsed response.
        mode: How reasoning is read (see ``_reasoning``).
        headers: The response headers, to report in ``response_metadata``, or ``None``.

    Raises:
        NebulaResponseError: If the body has no choices or any part has the wrong shape.
    """
    try:
        return _map_completion(body, mode, headers)
    except NebulaResponseError:
        raise
    except (TypeError, KeyError, AttributeError, ValueError, ValidationError, RecursionError):
        # A shape no check above foresaw: still a typed error, never a raw one.
        msg = "the completion has an unexpected shape"
        raise NebulaResponseError(msg, body=str(body)[:500]) from None


def _map_completion(
    body: Mapping[str, Any], mode: ReasoningMode, headers: Mapping[str, str] | None
) -> ChatResult:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        msg = "the completion has no choices"
        raise NebulaResponseError(msg, body=str(body)[:500])
    raw_usage = body.get("usage")
    usage = map_usage(raw_usage) if isinstance(raw_usage, Mapping) else None
    several = len(choices) > 1
    generations = [
        _map_choice(body, choice, position, usage, mode, headers, several)
        for position, choice in enumerate(choices)
    ]
    # LangChain copies llm_output into response_metadata for single generations; keep
    # it to the conventional keys so invoke and stream metadata stay alike.
    llm_output: dict[str, Any] = {"model_name": body.get("model")}
    if isinstance(raw_usage, Mapping):
        llm_output["token_usage"] = dict(raw_usage)
    return ChatResult(generations=generations, llm_output=llm_output)


def _map_choice(
    body: Mapping[str, Any],
    choice: Any,
    position: int,
    usage: UsageMetadata | None,
    mode: ReasoningMode,
    headers: Mapping[str, str] | None,
    several: bool,
) -> ChatGeneration:
    where = f"choice {position}'s"
    if not isinstance(choice, Mapping):
        msg = f"choice {position} is a JSON {type(choice).__name__}, not an object"
        raise NebulaResponseError(msg, body=str(body)[:500])
    message = choice.get("message")
    if message is None:
        message = {}
    if not isinstance(message, Mapping):
        msg = f"{where} message is a JSON {type(message).__name__}, not an object"
        raise NebulaResponseError(msg, body=str(body)[:500])
    finish_reason = choice.get("finish_reason")
    read = message_text(message.get("content"), where)
    field = reasoning_field(message)
    reasoning, content, unfinished = split_content(read.text, field, mode, finish_reason)
    metadata = response_metadata(body, finish_reason, headers)
    if unfinished:
        metadata["reasoning_unfinished"] = True
    generation_info: dict[str, Any] = {"finish_reason": finish_reason}
    if (logprobs := choice.get("logprobs")) is not None:
        metadata["logprobs"] = logprobs
        generation_info["logprobs"] = logprobs
    additional: dict[str, Any] = {}
    if reasoning:
        additional["reasoning_content"] = reasoning
    refusal = message.get("refusal")
    refusal = (refusal if isinstance(refusal, str) else "") + read.refusal
    if refusal:
        additional["refusal"] = refusal
    if read.other_parts:
        additional["content_parts"] = read.other_parts
    tool_calls, invalid_tool_calls = map_tool_calls(message.get("tool_calls"))
    message_id = body.get("id")
    if several and isinstance(message_id, str):
        # One message per choice, each with its own id: LangGraph replaces history
        # entries that share an id.
        message_id = f"{message_id}-{position}"
    ai_message = AIMessage(
        content=content,
        additional_kwargs=additional,
        id=message_id if isinstance(message_id, str) else None,
        tool_calls=tool_calls,
        invalid_tool_calls=invalid_tool_calls,
        usage_metadata=usage,
        response_metadata=metadata,
    )
    return ChatGeneration(message=ai_message, generation_info=generation_info)
