"""LangChain messages → Nebula (OpenAI Chat Completions) request messages.

Pure functions, no I/O. Every input either maps to the wire shape or raises a
``ValueError`` that names the offending message and block, so bad input fails before a
request is sent.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

__all__ = ["map_messages"]

# Blocks an AI message may carry that the wire expresses elsewhere (tool_calls) or not
# at all (reasoning is not sent back by default).
_AI_SKIPPED_BLOCKS = frozenset(
    {
        "tool_call",
        "tool_call_chunk",
        "tool_use",
        "function_call",
        "invalid_tool_call",
        "server_tool_call",
        "server_tool_call_chunk",
        "server_tool_result",
        "reasoning",
        "thinking",
        "redacted_thinking",
    }
)
_UNSUPPORTED_MEDIA = frozenset(
    {"audio", "input_audio", "video", "file", "document", "pdf", "text-plain", "image_file"}
)
_ROLE_OF_CHAT_ROLE = {"human": "user", "ai": "assistant"}
# Arguments written back into history keep non-ASCII text as is, like the body.
_encode_arguments = json.JSONEncoder(ensure_ascii=False).encode


def map_messages(
    messages: Sequence[BaseMessage], *, reasoning_in_history: bool = False
) -> list[dict[str, Any]]:
    """Maps a LangChain conversation to the ``messages`` field of a request.

    Args:
        messages: The conversation, oldest first.
        reasoning_in_history: Send earlier AI messages' reasoning as
            ``reasoning_content`` (otherwise it is left out).

    Returns:
        The wire messages, one per input message.

    Raises:
        ValueError: If a message type or content block cannot be sent to Nebula.
    """
    wire: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []  # image parts from tool results, awaiting a user turn
    for position, message in enumerate(messages):
        if isinstance(message, ToolMessage):
            wire.append(_map_tool_message(message, f"message {position} (ToolMessage)", held))
            continue
        if held:
            wire.append(_tool_images_turn(held))
            held = []
        entry = _map_message(message, position)
        if reasoning_in_history and isinstance(message, AIMessage):
            reasoning = _ai_reasoning(message)
            if reasoning:
                entry["reasoning_content"] = reasoning
        wire.append(entry)
    if held:
        wire.append(_tool_images_turn(held))
    return wire


def _map_tool_message(
    message: ToolMessage, where: str, held: list[dict[str, Any]]
) -> dict[str, Any]:
    """Maps a tool result; its images go to ``held`` for a following user message.

    Chat Completions tool messages carry text only. Images a tool returns (a
    screenshot, a chart) are moved to a user message placed after the run of tool
    results, so the model still sees them and the tool-call ordering stays valid.
    """
    content = message.content
    if isinstance(content, str):
        text = content
    else:
        texts: list[dict[str, Any] | str] = []
        images = 0
        for index, block in enumerate(content):
            kind = block.get("type") if isinstance(block, dict) else "text"
            if kind in ("image", "image_url"):
                if images == 0:
                    held.append(_tool_image_caption(message.tool_call_id))
                held.append(_map_part(block, f"{where}, block {index}"))
                images += 1
            else:
                texts.append(block)
        text = _text_only(texts, where)
        if images and not text:
            text = f"[{images} image(s) returned; attached in the next user message]"
    return {"role": "tool", "tool_call_id": message.tool_call_id, "content": text}


def _tool_image_caption(tool_call_id: str) -> dict[str, Any]:
    return {"type": "text", "text": f"Image(s) returned by tool call {tool_call_id}:"}


def _tool_images_turn(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"role": "user", "content": list(parts)}


def _map_message(message: BaseMessage, position: int) -> dict[str, Any]:
    where = f"message {position} ({type(message).__name__})"
    if isinstance(message, HumanMessage):
        wire = {"role": "user", "content": _map_user_content(message.content, where)}
    elif isinstance(message, AIMessage):
        wire = _map_ai_message(message, where)
    elif isinstance(message, SystemMessage):
        wire = {"role": "system", "content": _map_user_content(message.content, where)}
    elif isinstance(message, ChatMessage):
        role = _ROLE_OF_CHAT_ROLE.get(message.role, message.role)
        wire = {"role": role, "content": _map_user_content(message.content, where)}
    elif isinstance(message, FunctionMessage):
        wire = {
            "role": "function",
            "name": message.name,
            "content": _text_only(message.content, where),
        }
    else:
        msg = f"{where}: message type {message.type!r} cannot be sent to Nebula"
        raise ValueError(msg)
    # The function role carries its name already.
    if message.name and wire["role"] != "function":
        wire["name"] = message.name
    return wire


def _map_ai_message(message: AIMessage, where: str) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": "assistant", "content": _ai_text(message.content, where)}
    calls: list[dict[str, Any]] = [
        {
            "id": call["id"],
            "type": "function",
            "function": {"name": call["name"], "arguments": _encode_arguments(call["args"])},
        }
        for call in message.tool_calls
    ]
    # A call whose arguments never parsed is still part of the history the model saw.
    calls.extend(
        {
            "id": call.get("id"),
            "type": "function",
            "function": {"name": call.get("name"), "arguments": call.get("args") or ""},
        }
        for call in message.invalid_tool_calls
    )
    if calls:
        wire["tool_calls"] = calls
    return wire


def _ai_reasoning(message: AIMessage) -> str:
    stored = message.additional_kwargs.get("reasoning_content")
    if isinstance(stored, str) and stored:
        return stored
    if isinstance(message.content, str):
        return ""
    return "".join(
        str(block.get("reasoning", ""))
        for block in message.content
        if isinstance(block, dict) and block.get("type") == "reasoning"
    )


def _ai_text(content: str | list[str | dict[str, Any]], where: str) -> str:
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for index, block in enumerate(content):
        if isinstance(block, str):
            parts.append(block)
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif kind not in _AI_SKIPPED_BLOCKS:
            msg = f"{where}, block {index}: an assistant message cannot carry {kind!r} blocks"
            raise ValueError(msg)
    return "".join(parts)


def _text_only(content: str | list[str | dict[str, Any]], where: str) -> str:
    """Flattens content to text for roles whose wire content is a plain string."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for index, block in enumerate(content):
        if isinstance(block, str):
            parts.append(block)
        elif block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif block.get("type") == "json" and "json" in block:
            parts.append(json.dumps(block["json"]))
        else:
            msg = (
                f"{where}, block {index}: only text can be sent in this message, "
                f"got a {block.get('type')!r} block"
            )
            raise ValueError(msg)
    return "\n".join(parts)


def _map_user_content(
    content: str | list[str | dict[str, Any]], where: str
) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts = [_map_part(block, f"{where}, block {index}") for index, block in enumerate(content)]
    if len(parts) == 1 and parts[0]["type"] == "text":
        return str(parts[0]["text"])
    return parts


def _map_part(block: str | dict[str, Any], where: str) -> dict[str, Any]:
    if isinstance(block, str):
        return {"type": "text", "text": block}
    if not isinstance(block, Mapping):
        msg = f"{where}: content blocks must be strings or dicts, got {type(block).__name__}"
        raise ValueError(msg)
    kind = block.get("type")
    if kind == "text":
        # Sent clean: ids, indexes and annotations from earlier turns are not wire fields.
        return {"type": "text", "text": str(block.get("text", ""))}
    if kind == "image_url":
        return _map_openai_image(block, where)
    if kind == "image":
        return _map_standard_image(block, where)
    if kind in _UNSUPPORTED_MEDIA:
        msg = (
            f"{where}: Nebula's chat API accepts text and images only; "
            f"{kind!r} content blocks are not supported"
        )
        raise ValueError(msg)
    msg = f"{where}: unsupported content block type {kind!r}"
    raise ValueError(msg)


def _image_part(url: str, detail: Any, where: str) -> dict[str, Any]:
    image: dict[str, Any] = {"url": _checked_image_url(url, where)}
    if detail is not None:
        image["detail"] = detail
    return {"type": "image_url", "image_url": image}


def _map_openai_image(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    image = block.get("image_url")
    if isinstance(image, str):
        return _image_part(image, None, where)
    if isinstance(image, Mapping) and isinstance(image.get("url"), str):
        return _image_part(image["url"], image.get("detail"), where)
    msg = f"{where}: an 'image_url' block needs image_url as a URL string or {{'url': ...}}"
    raise ValueError(msg)


def _map_standard_image(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    extras = block.get("extras")
    detail = block.get("detail")
    if detail is None and isinstance(extras, Mapping):
        detail = extras.get("detail")
    source = block.get("source_type")  # v0 blocks name their source; v1 blocks do not
    url = block.get("url")
    if source in (None, "url") and isinstance(url, str):
        return _image_part(url, detail, where)
    data = block.get("base64") if source is None else block.get("data")
    if source in (None, "base64") and isinstance(data, str):
        mime = block.get("mime_type")
        if not mime:
            msg = f"{where}: a base64 image block needs a mime_type such as 'image/png'"
            raise ValueError(msg)
        return _image_part(f"data:{mime};base64,{data}", detail, where)
    if block.get("file_id") is not None or source == "id":
        msg = f"{where}: image blocks referencing an uploaded file id are not supported"
        raise ValueError(msg)
    msg = f"{where}: an 'image' block needs a 'url' or 'base64' data"
    raise ValueError(msg)


def _decode_base64(data: str, where: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        msg = f"{where}: image data is not valid base64 ({exc})"
        raise ValueError(msg) from None


def _checked_image_url(url: str, where: str) -> str:
    if url.startswith(("https://", "http://")):
        return url
    if not url.startswith("data:"):
        msg = f"{where}: image URL must be http(s):// or a data: URI, got {url[:40]!r}"
        raise ValueError(msg)
    header, comma, payload = url[5:].partition(",")
    mime, _, encoding = header.partition(";")
    if not comma or encoding != "base64":
        msg = f"{where}: malformed data URI; expected 'data:image/<type>;base64,<data>'"
        raise ValueError(msg)
    if not mime.startswith("image/"):
        msg = f"{where}: data URI has MIME type {mime or 'missing'!r}; only image/* is accepted"
        raise ValueError(msg)
    if not payload:
        msg = f"{where}: data URI carries no image data"
        raise ValueError(msg)
    _decode_base64(payload, where)
    return url
