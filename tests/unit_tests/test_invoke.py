"""Invoke: request JSON sent and the AIMessage built from each completion shape."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from langchain_nebula import ChatNebula
from tests.conftest import API_KEY
from tests.scripted_server import ScriptedServer, completion

Make = Callable[..., ChatNebula]


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


def test_usage_details_map_cached_and_reasoning_tokens(
    server: ScriptedServer, make_model: Make
) -> None:
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 50,
        "total_tokens": 150,
        "prompt_tokens_details": {"cached_tokens": 64},
        "completion_tokens_details": {"reasoning_tokens": 30},
    }
    server.reply_json(completion(usage=usage))
    assert make_model().invoke("Hi").usage_metadata == {
        "input_tokens": 100,
        "output_tokens": 50,
        "total_tokens": 150,
        "input_token_details": {"cache_read": 64},
        "output_token_details": {"reasoning": 30},
    }


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


def test_system_fingerprint_and_logprobs_are_reported_when_present(
    server: ScriptedServer, make_model: Make
) -> None:
    body = completion("Yes")
    body["system_fingerprint"] = "fp_abc"
    logprobs = {
        "content": [{"token": "Yes", "logprob": -0.01, "bytes": [89, 101, 115], "top_logprobs": []}]
    }
    body["choices"][0]["logprobs"] = logprobs
    server.reply_json(body)
    message = make_model(logprobs=True).invoke("Hi")
    assert message.response_metadata["system_fingerprint"] == "fp_abc"
    assert message.response_metadata["logprobs"] == logprobs


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
    from tests.scripted_server import Reply

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
