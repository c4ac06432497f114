"""LangChain messages → wire messages, exactly: every field sent, every refusal's words.

``map_messages`` is what a request's ``messages`` field is built from; these tests pin
its output for each block form and the exact ``ValueError`` a user gets for input
that cannot be sent (which message, which block, what is wrong).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_nebula._wire.messages import map_messages


def _base64_reason(data: str) -> str:
    # The stdlib's own words, which differ between Python versions (3.10: "Non-base64
    # digit found"; 3.11+: "Only base64 data is allowed").
    try:
        base64.b64decode(data, validate=True)
    except binascii.Error as exc:
        return str(exc)
    raise AssertionError(data)


URL = "https://example.com/cat.png"
PNG = "iVBORw0KGgo="


def refusal(*messages: BaseMessage) -> str:
    with pytest.raises(ValueError, match=r"^message \d+ \(") as caught:
        map_messages(list(messages))
    return str(caught.value)


def user_part(block: Any) -> Any:
    """The wire part one user content block becomes (after a text part)."""
    wire = map_messages([HumanMessage(content=[{"type": "text", "text": "t"}, block])])
    return wire[0]["content"][1]


# -- roles and names ------------------------------------------------------------------------


def test_each_role_is_sent_with_its_name() -> None:
    history = [
        SystemMessage("s", name="sys"),
        HumanMessage("x", name="bob"),
        AIMessage("a", name="al"),
        ChatMessage(role="human", content="h"),
        ChatMessage(role="ai", content="b"),
        ChatMessage(role="critic", content="c", name="n"),
        FunctionMessage(content="r", name="fn"),
        ToolMessage(content="t", tool_call_id="c1", name="tool"),
    ]
    assert map_messages(history) == [
        {"role": "system", "content": "s", "name": "sys"},
        {"role": "user", "content": "x", "name": "bob"},
        {"role": "assistant", "content": "a", "name": "al"},
        {"role": "user", "content": "h"},
        {"role": "assistant", "content": "b"},
        {"role": "critic", "content": "c", "name": "n"},
        {"role": "function", "name": "fn", "content": "r"},
        {"role": "tool", "tool_call_id": "c1", "content": "t"},
    ]


def test_a_message_type_the_api_does_not_know_is_refused() -> None:
    class Custom(BaseMessage):
        type: str = "custom"

    assert refusal(HumanMessage("q"), Custom(content="x")) == (
        "message 1 (Custom): message type 'custom' cannot be sent to Nebula"
    )


def test_user_content_of_one_text_part_is_a_string_and_of_more_parts_a_list() -> None:
    image = {"type": "image_url", "image_url": URL}
    assert map_messages(
        [
            HumanMessage(content=[{"type": "text", "text": "one"}]),
            HumanMessage(content=["one"]),
            HumanMessage(content=[image]),
            HumanMessage(content=["a", "b"]),
            HumanMessage(content=[]),
        ]
    ) == [
        {"role": "user", "content": "one"},
        {"role": "user", "content": "one"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": URL}}]},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "user", "content": []},
    ]


def test_an_empty_conversation_is_no_messages() -> None:
    assert map_messages([]) == []


# -- assistant messages ----------------------------------------------------------------------


def test_assistant_text_blocks_and_strings_are_joined_in_order() -> None:
    message = AIMessage(content=["a", {"type": "text", "text": "b"}, "c", {"type": "text"}])
    assert map_messages([message]) == [{"role": "assistant", "content": "abc"}]


def test_assistant_tool_calls_are_sent_with_json_arguments() -> None:
    message = AIMessage("", tool_calls=[{"name": "f", "args": {"q": "é"}, "id": "c1"}])
    assert map_messages([message]) == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "f", "arguments": '{"q": "é"}'},
                }
            ],
        }
    ]


def test_assistant_invalid_tool_calls_are_sent_back_as_they_were() -> None:
    message = AIMessage(
        "",
        invalid_tool_calls=[
            {"name": "f", "args": "{bad", "id": "c1", "error": "e", "type": "invalid_tool_call"},
            {"name": "g", "args": None, "id": "c2", "error": "e", "type": "invalid_tool_call"},
        ],
    )
    assert map_messages([message])[0]["tool_calls"] == [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{bad"}},
        {"id": "c2", "type": "function", "function": {"name": "g", "arguments": ""}},
    ]


def test_an_assistant_message_without_calls_has_no_tool_calls_field() -> None:
    assert map_messages([AIMessage("hi")]) == [{"role": "assistant", "content": "hi"}]


def test_an_assistant_block_that_cannot_be_sent_is_named() -> None:
    message = AIMessage(content=["ok", {"type": "image", "url": URL}])
    assert refusal(HumanMessage("q"), message) == (
        "message 1 (AIMessage), block 1: an assistant message cannot carry 'image' blocks"
    )


# -- reasoning in history --------------------------------------------------------------------


def test_reasoning_is_sent_back_only_when_asked() -> None:
    message = AIMessage("a", additional_kwargs={"reasoning_content": "because"})
    assert map_messages([message]) == [{"role": "assistant", "content": "a"}]
    assert map_messages([message], reasoning_in_history=True) == [
        {"role": "assistant", "content": "a", "reasoning_content": "because"}
    ]


def test_reasoning_blocks_are_joined_when_no_reasoning_field_is_stored() -> None:
    message = AIMessage(
        content=[
            {"type": "reasoning", "reasoning": "one "},
            "plain",
            {"type": "reasoning"},
            {"type": "text", "text": "answer"},
            {"type": "reasoning", "reasoning": "two"},
        ],
        additional_kwargs={"reasoning_content": 5},
    )
    assert map_messages([message], reasoning_in_history=True) == [
        {"role": "assistant", "content": "plainanswer", "reasoning_content": "one two"}
    ]


@pytest.mark.parametrize(
    "message",
    [
        AIMessage("a"),
        AIMessage("a", additional_kwargs={"reasoning_content": ""}),
        AIMessage(content=[{"type": "text", "text": "a"}]),
    ],
)
def test_no_reasoning_means_no_reasoning_field(message: AIMessage) -> None:
    assert map_messages([message], reasoning_in_history=True) == [
        {"role": "assistant", "content": "a"}
    ]


def test_reasoning_is_only_added_to_assistant_messages() -> None:
    message = HumanMessage("q", additional_kwargs={"reasoning_content": "x"})
    assert map_messages([message], reasoning_in_history=True) == [{"role": "user", "content": "q"}]


# -- text-only roles: tool results and function messages -------------------------------------


def test_tool_result_text_blocks_and_strings_are_joined_by_newlines() -> None:
    message = ToolMessage(
        content=["a", {"type": "text", "text": "b"}, {"type": "text"}], tool_call_id="c1"
    )
    assert map_messages([message]) == [{"role": "tool", "tool_call_id": "c1", "content": "a\nb\n"}]


def test_json_blocks_in_a_tool_result_are_sent_as_json_text() -> None:
    message = ToolMessage(content=[{"type": "json", "json": {"n": [1, 2]}}], tool_call_id="c1")
    assert map_messages([message])[0]["content"] == '{"n": [1, 2]}'


def test_function_messages_send_text_and_their_name() -> None:
    message = FunctionMessage(content=["x", {"type": "text", "text": "y"}], name="lookup")
    assert map_messages([message]) == [{"role": "function", "name": "lookup", "content": "x\ny"}]


@pytest.mark.parametrize(
    ("block", "kind"),
    [
        ({"type": "json"}, "'json'"),
        ({"type": "file", "json": {"a": 1}}, "'file'"),
        ({"json": {"a": 1}}, "None"),
    ],
)
def test_a_tool_result_block_that_is_not_text_is_refused_by_name(
    block: dict[str, Any], kind: str
) -> None:
    message = ToolMessage(content=["ok", block], tool_call_id="c1")
    assert refusal(HumanMessage("q"), message) == (
        "message 1 (ToolMessage), block 1: only text can be sent in this message, "
        f"got a {kind} block"
    )


def test_images_in_a_tool_result_move_to_a_user_message_after_the_tool_results() -> None:
    history = [
        AIMessage(
            "",
            tool_calls=[
                {"name": "f", "args": {}, "id": "c1"},
                {"name": "g", "args": {}, "id": "c2"},
            ],
        ),
        ToolMessage(
            content=[
                "see",
                {"type": "image_url", "image_url": URL},
                {"type": "image", "url": URL, "detail": "low"},
            ],
            tool_call_id="c1",
        ),
        ToolMessage(content="done", tool_call_id="c2"),
        HumanMessage("next"),
    ]
    assert map_messages(history)[1:] == [
        {"role": "tool", "tool_call_id": "c1", "content": "see"},
        {"role": "tool", "tool_call_id": "c2", "content": "done"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Image(s) returned by tool call c1:"},
                {"type": "image_url", "image_url": {"url": URL}},
                {"type": "image_url", "image_url": {"url": URL, "detail": "low"}},
            ],
        },
        {"role": "user", "content": "next"},
    ]


def test_each_run_of_tool_results_gets_its_own_image_message() -> None:
    image = {"type": "image_url", "image_url": URL}
    history = [
        ToolMessage(content=[image], tool_call_id="c1"),
        HumanMessage("next"),
        ToolMessage(content=[image], tool_call_id="c2"),
    ]
    caption = "[1 image(s) returned; attached in the next user message]"
    assert map_messages(history) == [
        {"role": "tool", "tool_call_id": "c1", "content": caption},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Image(s) returned by tool call c1:"},
                {"type": "image_url", "image_url": {"url": URL}},
            ],
        },
        {"role": "user", "content": "next"},
        {"role": "tool", "tool_call_id": "c2", "content": caption},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Image(s) returned by tool call c2:"},
                {"type": "image_url", "image_url": {"url": URL}},
            ],
        },
    ]


def test_a_tool_result_of_images_only_says_how_many_were_moved() -> None:
    message = ToolMessage(
        content=[{"type": "image_url", "image_url": URL}, {"type": "image_url", "image_url": URL}],
        tool_call_id="c9",
    )
    assert map_messages([message]) == [
        {
            "role": "tool",
            "tool_call_id": "c9",
            "content": "[2 image(s) returned; attached in the next user message]",
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Image(s) returned by tool call c9:"},
                {"type": "image_url", "image_url": {"url": URL}},
                {"type": "image_url", "image_url": {"url": URL}},
            ],
        },
    ]


def test_a_bad_image_in_a_tool_result_is_named() -> None:
    message = ToolMessage(
        content=["x", {"type": "image_url", "image_url": "ftp://a"}], tool_call_id="c1"
    )
    assert refusal(message) == (
        "message 0 (ToolMessage), block 1: image URL must be http(s):// or a data: URI, "
        "got 'ftp://a'"
    )


# -- user content blocks ---------------------------------------------------------------------


def test_a_text_block_is_sent_clean() -> None:
    assert user_part({"type": "text", "text": "x", "id": "b1", "annotations": []}) == {
        "type": "text",
        "text": "x",
    }


def test_a_text_block_without_text_is_empty_text() -> None:
    assert user_part({"type": "text"}) == {"type": "text", "text": ""}


def test_a_system_message_of_one_text_block_is_a_string() -> None:
    assert map_messages([SystemMessage(content=[{"type": "text", "text": "be brief"}])]) == [
        {"role": "system", "content": "be brief"}
    ]


@pytest.mark.parametrize(
    ("block", "image_url"),
    [
        (
            {"type": "image_url", "image_url": "http://example.com/a.png"},
            {"url": "http://example.com/a.png"},
        ),
        ({"type": "image", "url": URL, "detail": "high"}, {"url": URL, "detail": "high"}),
        ({"type": "image_url", "image_url": {"url": URL}}, {"url": URL}),
        (
            {"type": "image_url", "image_url": {"url": URL, "detail": "low"}},
            {"url": URL, "detail": "low"},
        ),
        (
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            {"url": f"data:image/png;base64,{PNG}"},
        ),
        ({"type": "image", "url": URL}, {"url": URL}),
        (
            {"type": "image", "url": URL, "extras": {"detail": "high"}},
            {"url": URL, "detail": "high"},
        ),
        (
            {"type": "image", "url": URL, "detail": "low", "extras": {"detail": "high"}},
            {"url": URL, "detail": "low"},
        ),
        ({"type": "image", "source_type": "url", "url": URL}, {"url": URL}),
        (
            {"type": "image", "source_type": "base64", "data": PNG, "mime_type": "image/png"},
            {"url": f"data:image/png;base64,{PNG}"},
        ),
        (
            {"type": "image", "base64": PNG, "mime_type": "image/png", "detail": "auto"},
            {"url": f"data:image/png;base64,{PNG}", "detail": "auto"},
        ),
    ],
)
def test_each_image_form_becomes_an_image_url_part(
    block: dict[str, Any], image_url: dict[str, Any]
) -> None:
    assert user_part(block) == {"type": "image_url", "image_url": image_url}


@pytest.mark.parametrize(
    ("block", "complaint"),
    [
        (
            {"type": "audio", "base64": "AAAA", "mime_type": "audio/wav"},
            "Nebula's chat API accepts text and images only; 'audio' content blocks are not "
            "supported",
        ),
        ({"type": "hologram"}, "unsupported content block type 'hologram'"),
        (
            {"type": "image_url", "image_url": {"detail": "low"}},
            "an 'image_url' block needs image_url as a URL string or {'url': ...}",
        ),
        (
            {"type": "image", "base64": PNG},
            "a base64 image block needs a mime_type such as 'image/png'",
        ),
        (
            {"type": "image", "source_type": "url", "data": PNG, "mime_type": "image/png"},
            "an 'image' block needs a 'url' or 'base64' data",
        ),
        (
            {"type": "image", "source_type": "base64", "url": URL},
            "an 'image' block needs a 'url' or 'base64' data",
        ),
        (
            {"type": "image", "source_type": "id", "id": "file-1"},
            "image blocks referencing an uploaded file id are not supported",
        ),
        (
            {"type": "image", "file_id": "file-1"},
            "image blocks referencing an uploaded file id are not supported",
        ),
        ({"type": "image"}, "an 'image' block needs a 'url' or 'base64' data"),
        (
            {"type": "image", "url": "file:///etc/passwd"},
            "image URL must be http(s):// or a data: URI, got 'file:///etc/passwd'",
        ),
        (
            {"type": "image_url", "image_url": "ftp://" + "x" * 60},
            "image URL must be http(s):// or a data: URI, got 'ftp://" + "x" * 34 + "'",
        ),
        (
            {"type": "image_url", "image_url": "data:image/png,AAAA"},
            "malformed data URI; expected 'data:image/<type>;base64,<data>'",
        ),
        (
            {"type": "image_url", "image_url": "data:image/png;charset=x;base64,AAAA"},
            "malformed data URI; expected 'data:image/<type>;base64,<data>'",
        ),
        (
            {"type": "image_url", "image_url": "data:image/png;base64"},
            "malformed data URI; expected 'data:image/<type>;base64,<data>'",
        ),
        (
            {"type": "image_url", "image_url": "data:;base64,AAAA"},
            "data URI has MIME type 'missing'; only image/* is accepted",
        ),
        (
            {"type": "image_url", "image_url": "data:text/plain;base64,AAAA"},
            "data URI has MIME type 'text/plain'; only image/* is accepted",
        ),
        (
            {"type": "image_url", "image_url": "data:image/png;base64,"},
            "data URI carries no image data",
        ),
        (
            {"type": "image_url", "image_url": "data:image/png;base64,AA$A"},
            f"image data is not valid base64 ({_base64_reason('AA$A')})",
        ),
        (
            {"type": "image_url", "image_url": "data:image/png;base64,AAAA,BBBB"},
            f"image data is not valid base64 ({_base64_reason('AAAA,BBBB')})",
        ),
        (
            {"type": "image", "base64": "AAA", "mime_type": "image/png"},
            "image data is not valid base64 (Incorrect padding)",
        ),
    ],
)
def test_a_user_block_that_cannot_be_sent_is_refused_saying_why(
    block: dict[str, Any], complaint: str
) -> None:
    message = HumanMessage(content=[{"type": "text", "text": "look"}, block])
    assert refusal(SystemMessage("s"), message) == (
        f"message 1 (HumanMessage), block 1: {complaint}"
    )


@pytest.mark.parametrize(
    ("message", "where"),
    [
        (SystemMessage(content=["ok", {"type": "hologram"}]), "message 0 (SystemMessage), block 1"),
        (
            ChatMessage(role="critic", content=["ok", {"type": "hologram"}]),
            "message 0 (ChatMessage), block 1",
        ),
    ],
)
def test_a_bad_block_in_any_role_is_named(message: BaseMessage, where: str) -> None:
    assert refusal(message) == f"{where}: unsupported content block type 'hologram'"


def test_a_bad_block_in_a_function_message_is_named() -> None:
    message = FunctionMessage(content=["ok", {"type": "image", "url": URL}], name="f")
    assert refusal(message) == (
        "message 0 (FunctionMessage), block 1: only text can be sent in this message, "
        "got a 'image' block"
    )


def test_a_content_block_that_is_neither_string_nor_dict_is_refused() -> None:
    message = HumanMessage.model_construct(content=["ok", 5])
    assert refusal(message) == (
        "message 0 (HumanMessage), block 1: content blocks must be strings or dicts, got int"
    )
