"""Reading one choice of a completion or a stream chunk. Pure.

Invoke (``completions``) and stream (``chunks``) read a choice's parts through these
same functions, so both report the same text, refusal, tool calls, log-probabilities,
usage and finish metadata for the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import InvalidToolCall, ToolCall
from langchain_core.messages.ai import InputTokenDetails, OutputTokenDetails, UsageMetadata

from langchain_nebula._provider import PROVIDER
from langchain_nebula._wire.json_codec import decode_json, encode_json_text
from langchain_nebula.errors import NebulaResponseError

__all__ = [
    "MessageText",
    "arguments_text",
    "map_tool_calls",
    "map_usage",
    "message_text",
    "read_logprobs",
    "read_refusal",
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
    prompt_details = prompt_details if isinstance(prompt_details, Mapping) else {}
    input_details = InputTokenDetails()
    # OpenAI's cached_tokens; Anthropic's names, as LiteLLM passes them on, top level.
    cached = prompt_details.get("cached_tokens", usage.get("cache_read_input_tokens"))
    if cached is not None:
        input_details["cache_read"] = token_count(cached)
    created = prompt_details.get("cache_creation_tokens", usage.get("cache_creation_input_tokens"))
    if created is not None:
        input_details["cache_creation"] = token_count(created)
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
    body: Mapping[str, Any],
    finish_reason: Any,
    headers: Mapping[str, str] | None = None,
    choice: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The metadata both invoke and the final stream chunk report.

    Besides the finish reason, model and id: the ``system_fingerprint`` and
    ``service_tier`` when sent, and vLLM's ``stop_reason`` (the stop string or token
    that ended the reply) from the choice.
    """
    metadata: dict[str, Any] = {
        "finish_reason": finish_reason,
        "model_name": body.get("model"),
        "id": body.get("id"),
        "model_provider": PROVIDER,
    }
    if (fingerprint := body.get("system_fingerprint")) is not None:
        metadata["system_fingerprint"] = fingerprint
    if (tier := body.get("service_tier")) is not None:
        metadata["service_tier"] = tier
    if choice is not None and (stop_reason := choice.get("stop_reason")) is not None:
        metadata["stop_reason"] = stop_reason
    if headers is not None:
        metadata["headers"] = dict(headers)
    return metadata


def read_refusal(message: Mapping[str, Any], read: MessageText) -> str:
    """A refusal: the ``refusal`` field (message or delta), then refusal content parts."""
    refusal = message.get("refusal")
    return (refusal if isinstance(refusal, str) else "") + read.refusal


def read_logprobs(choice: Mapping[str, Any]) -> Any:
    """A choice's ``logprobs`` as sent, or ``None`` when it has none."""
    return choice.get("logprobs")
