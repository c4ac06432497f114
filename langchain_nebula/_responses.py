"""Nebula completions → LangChain ``AIMessage`` results.

Pure functions, no I/O, shared by invoke and stream so both report the same fields.
Servers vary in what they omit: every optional key may be missing, ``null`` or empty.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage, InvalidToolCall, ToolCall
from langchain_core.messages.ai import InputTokenDetails, OutputTokenDetails, UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult

from langchain_nebula._exceptions import NebulaServerError
from langchain_nebula._profiles import ReasoningForm
from langchain_nebula._reasoning import reasoning_field, split_think_tags

__all__ = ["PROVIDER", "map_completion", "map_tool_calls", "map_usage", "parse_json_body"]

PROVIDER = "nebula"


def parse_json_body(body: bytes) -> dict[str, Any]:
    """Parses a 2xx response body, which must be a JSON object."""
    try:
        parsed = json.loads(body)
    except ValueError:
        snippet = body[:200].decode("utf-8", "replace")
        what = "an empty body" if not body.strip() else f"a non-JSON body: {snippet!r}"
        msg = f"the server answered 200 with {what}"
        raise NebulaServerError(msg, body=snippet) from None
    if not isinstance(parsed, dict):
        msg = f"the server answered 200 with a JSON {type(parsed).__name__}, not an object"
        raise NebulaServerError(msg, body=parsed)
    return parsed


def map_usage(usage: Mapping[str, Any]) -> UsageMetadata:
    """Maps an OpenAI-style ``usage`` object to LangChain's ``UsageMetadata``."""
    input_tokens = usage.get("prompt_tokens") or 0
    output_tokens = usage.get("completion_tokens") or 0
    total = usage.get("total_tokens")
    result = UsageMetadata(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=total if isinstance(total, int) else input_tokens + output_tokens,
    )
    prompt_details = usage.get("prompt_tokens_details")
    if isinstance(prompt_details, Mapping):
        input_details = InputTokenDetails()
        if isinstance(cached := prompt_details.get("cached_tokens"), int):
            input_details["cache_read"] = cached
        if isinstance(audio := prompt_details.get("audio_tokens"), int):
            input_details["audio"] = audio
        if input_details:
            result["input_token_details"] = input_details
    completion_details = usage.get("completion_tokens_details")
    if isinstance(completion_details, Mapping):
        output_details = OutputTokenDetails()
        if isinstance(reasoning := completion_details.get("reasoning_tokens"), int):
            output_details["reasoning"] = reasoning
        if isinstance(audio := completion_details.get("audio_tokens"), int):
            output_details["audio"] = audio
        if output_details:
            result["output_token_details"] = output_details
    return result


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
        name = function.get("name")
        arguments = function.get("arguments")
        args, error = _parse_arguments(arguments)
        if error is None and isinstance(name, str) and name:
            calls.append(ToolCall(name=name, args=args, id=call_id, type="tool_call"))
        else:
            invalid.append(
                InvalidToolCall(
                    name=name if isinstance(name, str) else None,
                    args=arguments if isinstance(arguments, str) else json.dumps(arguments),
                    id=call_id,
                    error=error or "tool call has no function name",
                    type="invalid_tool_call",
                )
            )
    return calls, invalid


def _parse_arguments(arguments: Any) -> tuple[dict[str, Any], str | None]:
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}, None
    if isinstance(arguments, Mapping):  # some servers send an object, not a string
        return dict(arguments), None
    if not isinstance(arguments, str):
        return {}, f"arguments must be a JSON object, got {type(arguments).__name__}"
    try:
        parsed = json.loads(arguments)
    except ValueError as exc:
        return {}, f"arguments are not valid JSON: {exc}"
    if not isinstance(parsed, dict):
        return {}, f"arguments must be a JSON object, got {type(parsed).__name__}"
    return parsed, None


def response_metadata(body: Mapping[str, Any], finish_reason: Any) -> dict[str, Any]:
    """The metadata both invoke and the final stream chunk report."""
    metadata: dict[str, Any] = {
        "finish_reason": finish_reason,
        "model_name": body.get("model"),
        "id": body.get("id"),
        "model_provider": PROVIDER,
    }
    if (fingerprint := body.get("system_fingerprint")) is not None:
        metadata["system_fingerprint"] = fingerprint
    return metadata


def map_completion(body: Mapping[str, Any], reasoning: ReasoningForm = "field") -> ChatResult:
    """Maps a ``chat.completion`` object to a ``ChatResult``, one generation per choice.

    Args:
        body: The parsed response.
        reasoning: Where to look for reasoning: ``"field"`` reads ``reasoning_content``
            or ``reasoning``; ``"think_tags"`` also splits ``<think>`` tags out of the
            content when no field carried it; ``"none"`` leaves everything as sent.

    Raises:
        NebulaServerError: If the body has no choices.
    """
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        msg = "the completion has no choices"
        raise NebulaServerError(msg, body=dict(body))
    raw_usage = body.get("usage")
    usage = map_usage(raw_usage) if isinstance(raw_usage, Mapping) else None
    generations = [_map_choice(body, choice, usage, reasoning) for choice in choices]
    # LangChain copies llm_output into response_metadata for single generations; keep
    # it to the conventional keys so invoke and stream metadata stay alike.
    llm_output = {"model_name": body.get("model")}
    if raw_usage is not None:
        llm_output["token_usage"] = raw_usage
    return ChatResult(generations=generations, llm_output=llm_output)


def _map_choice(
    body: Mapping[str, Any],
    choice: Mapping[str, Any],
    usage: UsageMetadata | None,
    form: ReasoningForm,
) -> ChatGeneration:
    message = choice.get("message") or {}
    content = message.get("content") or ""
    reasoning = reasoning_field(message) if form != "none" else None
    if reasoning is None and form == "think_tags" and content:
        reasoning, content = split_think_tags(content)
    metadata = response_metadata(body, choice.get("finish_reason"))
    generation_info: dict[str, Any] = {"finish_reason": choice.get("finish_reason")}
    if (logprobs := choice.get("logprobs")) is not None:
        metadata["logprobs"] = logprobs
        generation_info["logprobs"] = logprobs
    tool_calls, invalid_tool_calls = map_tool_calls(message.get("tool_calls"))
    ai_message = AIMessage(
        content=content,
        additional_kwargs={"reasoning_content": reasoning} if reasoning else {},
        id=body.get("id"),
        tool_calls=tool_calls,
        invalid_tool_calls=invalid_tool_calls,
        usage_metadata=usage,
        response_metadata=metadata,
    )
    return ChatGeneration(message=ai_message, generation_info=generation_info)
