"""Messages and content blocks → the exact request JSON; bad input fails before sending."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_nebula import ChatNebula
from tests.scripted_server import ScriptedServer, completion

Make = Callable[..., ChatNebula]

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
JPEG = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x00" * 16).decode()
URL = "https://qianwen-res.oss-cn-beijing.aliyuncs.com/Qwen-VL/assets/demo.jpeg"


def sent_messages(
    server: ScriptedServer, make_model: Make, messages: list[BaseMessage]
) -> list[dict[str, Any]]:
    server.reply_json(completion())
    make_model().invoke(messages)
    return server.requests[-1].json["messages"]


def test_each_role_maps_to_its_wire_message(server: ScriptedServer, make_model: Make) -> None:
    history = [
        SystemMessage("You are terse."),
        HumanMessage("What is 2+2?", name="alice"),
        AIMessage("4"),
        ChatMessage(role="user", content="And 3+3?"),
        ChatMessage(role="ai", content="6"),
        ChatMessage(role="developer", content="Keep it short."),
    ]
    assert sent_messages(server, make_model, history) == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is 2+2?", "name": "alice"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"},
        {"role": "assistant", "content": "6"},
        {"role": "developer", "content": "Keep it short."},
    ]


def test_ai_tool_calls_and_tool_results_map_to_the_wire(
    server: ScriptedServer, make_model: Make
) -> None:
    history = [
        HumanMessage("Add 1 and 2"),
        AIMessage("", tool_calls=[{"name": "add", "args": {"a": 1, "b": 2}, "id": "call-1"}]),
        ToolMessage(content=[{"type": "text", "text": "3"}], tool_call_id="call-1", name="add"),
    ]
    sent = sent_messages(server, make_model, history)
    assert sent[1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call-1",
                "type": "function",
                "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'},
            }
        ],
    }
    assert sent[2] == {"role": "tool", "tool_call_id": "call-1", "content": "3"}


def test_ai_content_blocks_send_text_only(server: ScriptedServer, make_model: Make) -> None:
    message = AIMessage(
        content=[
            {"type": "reasoning", "reasoning": "hmm"},
            {"type": "text", "text": "Hello", "id": "lc_1", "index": 0},
            {"type": "text", "text": " there"},
        ]
    )
    assert sent_messages(server, make_model, [HumanMessage("Hi"), message])[1] == {
        "role": "assistant",
        "content": "Hello there",
    }


def test_text_parts_are_sent_clean(server: ScriptedServer, make_model: Make) -> None:
    message = HumanMessage(
        content=[
            {"type": "text", "text": "first", "id": "abc", "index": 3, "annotations": []},
            "second",
        ]
    )
    assert sent_messages(server, make_model, [message])[0]["content"] == [
        {"type": "text", "text": "first"},
        {"type": "text", "text": "second"},
    ]


def test_single_text_part_is_sent_as_a_string(server: ScriptedServer, make_model: Make) -> None:
    message = HumanMessage(content=[{"type": "text", "text": "only", "id": "x"}])
    assert sent_messages(server, make_model, [message])[0]["content"] == "only"


@pytest.mark.parametrize(
    ("block", "image_url"),
    [
        ({"type": "image_url", "image_url": {"url": URL}}, {"url": URL}),
        (
            {"type": "image_url", "image_url": {"url": URL, "detail": "low"}},
            {"url": URL, "detail": "low"},
        ),
        ({"type": "image_url", "image_url": URL}, {"url": URL}),
        ({"type": "image", "source_type": "url", "url": URL}, {"url": URL}),
        (
            {"type": "image", "source_type": "base64", "data": PNG, "mime_type": "image/png"},
            {"url": f"data:image/png;base64,{PNG}"},
        ),
        ({"type": "image", "url": URL}, {"url": URL}),
        (
            {"type": "image", "url": URL, "extras": {"detail": "high"}},
            {"url": URL, "detail": "high"},
        ),
        (
            {"type": "image", "base64": JPEG, "mime_type": "image/jpeg"},
            {"url": f"data:image/jpeg;base64,{JPEG}"},
        ),
        (
            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{JPEG}"}},
            {"url": f"data:image/jpeg;base64,{JPEG}"},
        ),
    ],
)
def test_every_image_form_becomes_an_image_url_part(
    server: ScriptedServer, make_model: Make, block: dict[str, Any], image_url: dict[str, Any]
) -> None:
    message = HumanMessage(content=[{"type": "text", "text": "What is this image?"}, block])
    assert sent_messages(server, make_model, [message])[0]["content"] == [
        {"type": "text", "text": "What is this image?"},
        {"type": "image_url", "image_url": image_url},
    ]


@pytest.mark.parametrize(
    ("block", "complaint"),
    [
        ({"type": "audio", "base64": "AAAA", "mime_type": "audio/wav"}, "'audio'"),
        ({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}, "'audio'"),
        ({"type": "video", "url": "https://example.com/v.mp4"}, "'video'"),
        ({"type": "file", "base64": "JVBERi0=", "mime_type": "application/pdf"}, "'file'"),
        (
            {
                "type": "file",
                "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
            },
            "'file'",
        ),
        ({"type": "hologram", "data": "?"}, "'hologram'"),
        ({"type": "image", "file_id": "file-123"}, "file id"),
        (
            {"type": "image_url", "image_url": {"url": "data:text/plain;base64,aGVsbG8="}},
            "'text/plain'",
        ),
        (
            {"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}},
            "malformed data URI",
        ),
        (
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@notbase64@@@"}},
            "not valid base64",
        ),
        ({"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}, "http"),
        ({"type": "image_url"}, "image_url"),
    ],
)
def test_unsupported_or_bad_blocks_raise_before_any_request(
    server: ScriptedServer, make_model: Make, block: dict[str, Any], complaint: str
) -> None:
    message = HumanMessage(content=[{"type": "text", "text": "look"}, block])
    with pytest.raises(ValueError, match=complaint) as caught:
        make_model().invoke([message])
    assert "message 0" in str(caught.value)
    assert server.requests == []


def test_non_text_non_image_in_a_tool_message_raises_naming_the_block(
    server: ScriptedServer, make_model: Make
) -> None:
    history = [
        HumanMessage("Hi"),
        AIMessage("", tool_calls=[{"name": "read", "args": {}, "id": "c1"}]),
        ToolMessage(
            content=[{"type": "file", "base64": "JVBERi0=", "mime_type": "application/pdf"}],
            tool_call_id="c1",
        ),
    ]
    with pytest.raises(ValueError, match=r"message 2 .*'file'"):
        make_model().invoke(history)
    assert server.requests == []
