"""Nebula completions → LangChain ``AIMessage`` results.

Pure functions, no I/O, shared by invoke and stream so both report the same fields.
Servers vary in what they omit: every optional key may be missing, ``null`` or empty.
Anything of the wrong shape becomes a ``NebulaResponseError`` naming what was wrong,
never a raw ``TypeError`` or ``KeyError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ValidationError

from langchain_nebula._wire.choices import (
    map_tool_calls,
    map_usage,
    message_text,
    read_logprobs,
    read_refusal,
    response_metadata,
    token_count,
)
from langchain_nebula._wire.reasoning import ReasoningMode, reasoning_field, split_reasoning
from langchain_nebula.errors import NebulaResponseError

__all__ = ["combine_llm_outputs", "map_completion", "split_content"]


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
    metadata = response_metadata(body, finish_reason, headers, choice)
    if unfinished:
        metadata["reasoning_unfinished"] = True
    generation_info: dict[str, Any] = {"finish_reason": finish_reason}
    if (logprobs := read_logprobs(choice)) is not None:
        metadata["logprobs"] = logprobs
        generation_info["logprobs"] = logprobs
    additional: dict[str, Any] = {}
    if reasoning:
        additional["reasoning_content"] = reasoning
    if refusal := read_refusal(message, read):
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


def combine_llm_outputs(llm_outputs: list[dict[str, Any] | None], model: str) -> dict[str, Any]:
    """Joins the ``llm_output`` of several results (a batch): the model, summed usage."""
    combined: dict[str, Any] = {"model_name": model}
    totals: dict[str, Any] = {}
    for output in llm_outputs:
        if not output:
            continue
        combined["model_name"] = output.get("model_name") or combined["model_name"]
        usage = output.get("token_usage")
        if isinstance(usage, Mapping):
            _add_counts(totals, usage)
    if totals:
        combined["token_usage"] = totals
    return combined


def _add_counts(totals: dict[str, Any], usage: Mapping[str, Any]) -> None:
    """Adds ``usage``'s counts into ``totals``, nested details (``*_details``) included."""
    for key, value in usage.items():
        if isinstance(value, Mapping):
            nested = totals.get(key)
            if not isinstance(nested, dict):
                nested = totals[key] = {}
            _add_counts(nested, value)
        elif not isinstance(value, list | None):
            previous = totals.get(key, 0)
            totals[key] = (previous if isinstance(previous, int) else 0) + token_count(value)
