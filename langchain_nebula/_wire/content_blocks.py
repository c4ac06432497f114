"""Our messages as LangChain v1 standard content blocks (``message.content_blocks``). Pure.

Core reads blocks through the translator registered for a message's
``response_metadata["model_provider"]``. Ours adds what core's best-effort reading
drops: the refusal (a ``non_standard`` block holding ``{"type": "refusal", ...}``, the
form core gives a provider's block it has no standard type for) and content parts
that are not text.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.messages import content as types

__all__ = ["translate_content", "translate_content_chunk"]


def translate_content(message: AIMessage) -> list[types.ContentBlock]:
    """The standard blocks of a whole message: reasoning, text, refusal, tool calls."""
    blocks = _leading_blocks(message)
    blocks.extend(
        types.ToolCall(type="tool_call", id=call.get("id"), name=call["name"], args=call["args"])
        for call in message.tool_calls
    )
    blocks.extend(
        types.InvalidToolCall(
            type="invalid_tool_call",
            id=call.get("id"),
            name=call.get("name"),
            args=call.get("args"),
            error=call.get("error"),
        )
        for call in message.invalid_tool_calls
    )
    return blocks


def translate_content_chunk(message: AIMessageChunk) -> list[types.ContentBlock]:
    """The standard blocks of a chunk: as a message's, with tool-call chunks."""
    blocks = _leading_blocks(message)
    for chunk in message.tool_call_chunks:
        block = types.ToolCallChunk(
            type="tool_call_chunk",
            id=chunk.get("id"),
            name=chunk.get("name"),
            args=chunk.get("args"),
        )
        if (index := chunk.get("index")) is not None:
            block["index"] = index
        blocks.append(block)
    return blocks


def _leading_blocks(message: AIMessage | AIMessageChunk) -> list[types.ContentBlock]:
    extra = message.additional_kwargs
    blocks: list[types.ContentBlock] = []
    reasoning = extra.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        blocks.append(types.ReasoningContentBlock(type="reasoning", reasoning=reasoning))
    if isinstance(message.content, str):
        if message.content:
            blocks.append(types.TextContentBlock(type="text", text=message.content))
    else:
        blocks.extend(_part(part) for part in message.content)
    refusal = extra.get("refusal")
    if isinstance(refusal, str) and refusal:
        blocks.append(_non_standard({"type": "refusal", "refusal": refusal}))
    blocks.extend(_non_standard(part) for part in extra.get("content_parts") or ())
    return blocks


def _part(part: Any) -> types.ContentBlock:
    if isinstance(part, str):
        return types.TextContentBlock(type="text", text=part)
    if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
        return types.TextContentBlock(type="text", text=part["text"])
    return _non_standard(part)


def _non_standard(value: Any) -> types.ContentBlock:
    return types.NonStandardContentBlock(
        type="non_standard", value=value if isinstance(value, dict) else {"value": value}
    )
