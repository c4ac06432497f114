"""Chat (invoke): the request JSON sent for messages and settings, the AIMessage built."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_nebula import (
    ChatNebula,
)
from langchain_nebula._wire.messages import map_messages
from tests.conftest import API_KEY
from tests.scripted_server import Reply, ScriptedServer, completion

Make = Callable[..., ChatNebula]
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()


def test_invoke_sends_only_model_and_messages_by_default(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(completion("Hi"))
    make_model().invoke("Hello")
    assert server.requests[0].json == {
        "model": "meta-llama/Llama-3.3-70B-Instruct",
        "messages": [{"role": "user", "content": "Hello"}],
    }


def test_invoke_posts_to_chat_completions_with_bearer_key(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(completion())
    make_model(default_headers={"X-Team": "blue"}).invoke("Hello")
    request = server.requests[0]
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-team"] == "blue"
    assert request.headers["user-agent"].startswith("langchain-nebulablock/")


def test_every_set_sampling_field_is_sent_under_its_wire_name(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(completion())
    make_model(
        model="deepseek-ai/DeepSeek-R1",
        temperature=0.2,
        max_tokens=64,
        top_p=0.9,
        stop=["END"],
        seed=7,
        n=1,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        logprobs=True,
        top_logprobs=3,
        model_kwargs={"top_k": 40},
        extra_body={"chat_template_kwargs": {"enable_thinking": False}},
    ).invoke("Hello")
    sent = server.requests[0].json
    del sent["messages"]
    assert sent == {
        "model": "deepseek-ai/DeepSeek-R1",
        "temperature": 0.2,
        "max_tokens": 64,
        "top_p": 0.9,
        "stop": ["END"],
        "seed": 7,
        "n": 1,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "logprobs": True,
        "top_logprobs": 3,
        "top_k": 40,
        "chat_template_kwargs": {"enable_thinking": False},
    }


def test_call_time_arguments_override_and_none_is_not_sent(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(completion())
    make_model(temperature=0.7).invoke(
        "Hello", temperature=0.1, stop=["\n"], model="Qwen/QwQ-32B", max_tokens=None
    )
    sent = server.requests[0].json
    assert sent["temperature"] == 0.1
    assert sent["stop"] == ["\n"]
    assert sent["model"] == "Qwen/QwQ-32B"
    assert "max_tokens" not in sent


def test_explicit_null_is_sent_only_when_the_user_asks(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(completion())
    make_model(extra_body={"max_tokens": None}).invoke("Hello")
    assert server.requests[0].json["max_tokens"] is None


def test_completion_maps_to_ai_message_with_metadata_and_usage(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(completion("This image shows a dog.", model="Qwen/Qwen2.5-VL-7B-Instruct"))
    message = make_model().invoke("Hello")
    assert isinstance(message, AIMessage)
    assert message.content == "This image shows a dog."
    assert message.id == "chatcmpl-7ba48f119a564f4ea02b6a41386a3e40"
    assert message.usage_metadata == {
        "input_tokens": 3604,
        "output_tokens": 91,
        "total_tokens": 3695,
    }
    assert message.response_metadata == {
        "finish_reason": "stop",
        "model_name": "Qwen/Qwen2.5-VL-7B-Instruct",
        "id": "chatcmpl-7ba48f119a564f4ea02b6a41386a3e40",
        "model_provider": "nebula",
        "token_usage": completion()["usage"],
    }
    assert message.tool_calls == []


def test_minimal_completion_with_keys_missing_still_maps(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json({"choices": [{"message": {"content": "ok"}}]})
    message = make_model().invoke("Hi")
    assert message.content == "ok"
    assert message.usage_metadata is None
    assert message.response_metadata["model_provider"] == "nebula"
    assert message.response_metadata["finish_reason"] is None


def test_null_content_becomes_empty_string(server: ScriptedServer, make_model: Make) -> None:
    server.reply_json(completion(None, finish_reason="length"))
    message = make_model().invoke("Hi")
    assert message.content == ""
    assert message.response_metadata["finish_reason"] == "length"


def test_n_choices_become_generations(server: ScriptedServer, make_model: Make) -> None:
    body = completion("one")
    body["choices"].append(
        {"index": 1, "finish_reason": "stop", "message": {"role": "assistant", "content": "two"}}
    )
    server.reply_json(body)
    result = make_model(n=2).generate([[HumanMessage("Hi")]])
    assert [g.text for g in result.generations[0]] == ["one", "two"]
    assert result.llm_output is not None
    assert result.llm_output["model_name"] == "meta-llama/Llama-3.3-70B-Instruct"
    # One message per choice, each with its own id: LangGraph replaces history
    # entries that share an id, so equal ids would lose all but one answer.
    ids = [g.message.id for g in result.generations[0]]  # type: ignore[attr-defined]
    assert ids == [
        "chatcmpl-7ba48f119a564f4ea02b6a41386a3e40-0",
        "chatcmpl-7ba48f119a564f4ea02b6a41386a3e40-1",
    ]


@pytest.mark.parametrize(
    ("parts", "text", "extra"),
    [
        ([{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}], "Hello", {}),
        (["Hel", "lo"], "Hello", {}),
        ([{"type": "refusal", "refusal": "I can't."}], "", {"refusal": "I can't."}),
        (
            [{"type": "text", "text": "See:"}, {"type": "image_url", "image_url": {"url": "x"}}],
            "See:",
            {"content_parts": [{"type": "image_url", "image_url": {"url": "x"}}]},
        ),
    ],
    ids=["text-parts", "strings", "refusal", "other-parts-kept"],
)
def test_content_sent_as_a_list_of_parts_is_read_not_crashed_on(
    server: ScriptedServer,
    make_model: Make,
    parts: list[object],
    text: str,
    extra: dict[str, object],
) -> None:
    server.reply_json(completion(parts))  # type: ignore[arg-type]
    message = make_model().invoke("Hi")
    assert (message.content, message.additional_kwargs) == (text, extra)


def test_response_headers_are_reported_only_when_asked(
    server: ScriptedServer, make_model: Make
) -> None:
    headers = {"x-ratelimit-remaining-requests": "59", "x-litellm-call-id": "call-7"}
    server.reply_json(completion("a"), headers=headers)
    server.reply_json(completion("b"), headers=headers)
    assert "headers" not in make_model().invoke("Hi").response_metadata
    reported = make_model(include_response_headers=True).invoke("Hi").response_metadata["headers"]
    assert reported["x-ratelimit-remaining-requests"] == "59"
    assert reported["x-litellm-call-id"] == "call-7"
    assert reported["content-type"] == "application/json"


@pytest.mark.parametrize("tool_calls", [None, [], "absent"])
def test_empty_tool_call_variants_give_no_tool_calls(
    server: ScriptedServer, make_model: Make, tool_calls: object
) -> None:
    body = completion("plain")
    if tool_calls == "absent":
        del body["choices"][0]["message"]["tool_calls"]
    else:
        body["choices"][0]["message"]["tool_calls"] = tool_calls
    server.reply_json(body)
    message = make_model().invoke("Hi")
    assert message.tool_calls == []
    assert message.invalid_tool_calls == []


def test_tool_call_responses_parse_and_bad_arguments_are_kept_as_invalid(
    server: ScriptedServer, make_model: Make
) -> None:
    calls = [
        {
            "id": "call-1",
            "type": "function",
            "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'},
        },
        {"id": "call-2", "type": "function", "function": {"name": "now", "arguments": None}},
        {"id": "call-3", "type": "function", "function": {"name": "add", "arguments": "{not json"}},
        {"id": "call-4", "type": "function", "function": {"name": "add", "arguments": "[1, 2]"}},
    ]
    server.reply_json(completion(None, finish_reason="tool_calls", tool_calls=calls))
    message = make_model().invoke("Hi")
    assert [(c["name"], c["args"], c["id"]) for c in message.tool_calls] == [
        ("add", {"a": 1, "b": 2}, "call-1"),
        ("now", {}, "call-2"),
    ]
    assert [(c["args"], c["id"]) for c in message.invalid_tool_calls] == [
        ("{not json", "call-3"),
        ("[1, 2]", "call-4"),
    ]
    assert all(c["error"] for c in message.invalid_tool_calls)


async def test_ainvoke_sends_the_same_request_and_maps_the_same_message(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(completion("sync"))
    server.reply_json(completion("async"))
    model = make_model(temperature=0)
    messages = [SystemMessage("Be brief."), HumanMessage("Hi")]
    sync_message = model.invoke(messages)
    async_message = await model.ainvoke(messages)
    assert server.requests[0].json == server.requests[1].json
    assert (sync_message.content, async_message.content) == ("sync", "async")
    assert sync_message.response_metadata == async_message.response_metadata


def test_batch_runs_every_input(server: ScriptedServer, make_model: Make) -> None:

    server.default = lambda request: Reply(
        200,
        {"Content-Type": "application/json"},
        __import__("json")
        .dumps(completion(request.json["messages"][0]["content"].upper()))
        .encode(),
    )
    answers = make_model().batch(["a", "b", "c", "d"], config={"max_concurrency": 4})
    assert [a.content for a in answers] == ["A", "B", "C", "D"]
    assert len(server.requests) == 4


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


def test_an_image_block_is_sent_as_an_image_url_part(
    server: ScriptedServer, make_model: Make
) -> None:
    # Every image form and its wire value: tests/unit_tests/wire/test_messages.py.
    block = {"type": "image", "base64": PNG, "mime_type": "image/png"}
    image_url = {"url": f"data:image/png;base64,{PNG}"}
    message = HumanMessage(content=[{"type": "text", "text": "What is this image?"}, block])
    assert sent_messages(server, make_model, [message])[0]["content"] == [
        {"type": "text", "text": "What is this image?"},
        {"type": "image_url", "image_url": image_url},
    ]


def test_an_unsupported_block_fails_before_any_request(
    server: ScriptedServer, make_model: Make
) -> None:
    # Every refused block and its exact words: tests/unit_tests/wire/test_messages.py.
    block = {"type": "audio", "base64": "AAAA", "mime_type": "audio/wav"}
    complaint = "'audio'"
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


TEXTS = st.text(max_size=20)


BLOCKS = st.one_of(
    TEXTS,
    st.fixed_dictionaries({"type": st.just("text"), "text": TEXTS}),
    st.fixed_dictionaries(
        {
            "type": st.just("image_url"),
            "image_url": st.one_of(TEXTS, st.fixed_dictionaries({"url": TEXTS})),
        }
    ),
    st.fixed_dictionaries({"type": st.just("image"), "url": TEXTS}),
    st.fixed_dictionaries({"type": st.just("image"), "base64": TEXTS, "mime_type": TEXTS}),
    st.fixed_dictionaries(
        {
            "type": st.just("image"),
            "source_type": st.sampled_from(["url", "base64", "id"]),
            "data": TEXTS,
        }
    ),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["audio", "video", "file", "reasoning", "tool_call", "weird"])}
    ),
    st.dictionaries(
        st.sampled_from(["type", "text", "url", "image_url", "data"]),
        st.one_of(TEXTS, st.none(), st.integers()),
    ),
)


CONTENT = st.one_of(TEXTS, st.lists(BLOCKS, max_size=4))


def _message(kind: str, content: Any) -> BaseMessage:
    if kind == "human":
        return HumanMessage(content=content)
    if kind == "system":
        return SystemMessage(content=content)
    if kind == "ai":
        return AIMessage(content=content)
    if kind == "tool":
        return ToolMessage(content=content, tool_call_id="c1")
    return ChatMessage(role="user", content=content)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(["human", "system", "ai", "tool", "chat"]), CONTENT), max_size=5
    )
)
def test_any_conversation_converts_or_raises_value_error(
    conversation: list[tuple[str, Any]],
) -> None:
    try:
        messages = [_message(kind, content) for kind, content in conversation]
    except pydantic.ValidationError:
        return  # LangChain itself refused the message; nothing reaches us
    try:
        wire = map_messages(messages)
    except ValueError:
        return
    json.dumps(wire)  # whatever converts is sendable
