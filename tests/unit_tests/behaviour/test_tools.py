"""Tool calling: the tool forms and tool_choice sent, calls parsed, streamed and sent back."""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from operator import add
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from langchain_nebula import ChatNebula
from tests.scripted_server import ScriptedServer, chunk, completion, sse, tool_delta

Make = Callable[..., ChatNebula]


class Weather(BaseModel):
    """Weather in a city."""

    city: str = Field(description="City name")
    celsius: float


class Person(TypedDict):
    """A person."""

    name: str
    age: int


@tool
def add_numbers(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


PERSON_SCHEMA = {
    "title": "Person",
    "description": "A person.",
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def tool_call_completion(
    name: str, arguments: str, call_id: str = "chatcmpl-tool-1"
) -> dict[str, Any]:
    calls = [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    ]
    return completion(None, finish_reason="tool_calls", tool_calls=calls)


def test_every_tool_form_becomes_an_openai_function(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(completion())
    openai_dict = {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look up.",
            "parameters": {"type": "object", "properties": {}},
        },
    }
    make_model().bind_tools(
        [Weather, Person, add_numbers, multiply, PERSON_SCHEMA, openai_dict]
    ).invoke("Hi")
    tools = server.requests[0].json["tools"]
    assert [t["type"] for t in tools] == ["function"] * 6
    assert [t["function"]["name"] for t in tools] == [
        "Weather",
        "Person",
        "add_numbers",
        "multiply",
        "Person",
        "lookup",
    ]
    assert tools[0]["function"]["parameters"]["properties"]["city"]["description"] == "City name"
    assert tools[2]["function"]["parameters"]["required"] == ["a", "b"]
    assert "tool_choice" not in server.requests[0].json
    assert "parallel_tool_calls" not in server.requests[0].json


def test_bind_tools_sends_the_tool_choice_it_was_given(
    server: ScriptedServer, make_model: Make
) -> None:
    # Every tool_choice form and its wire value: tests/unit_tests/wire/test_tools.py.
    server.reply_json(completion())
    make_model().bind_tools([add_numbers, multiply], tool_choice="any").invoke("Hi")
    assert server.requests[0].json["tool_choice"] == "required"


def test_a_bad_tool_choice_fails_at_bind_time(server: ScriptedServer, make_model: Make) -> None:
    # Every refusal's exact words: tests/unit_tests/wire/test_tools.py.
    with pytest.raises(ValueError, match="'divide', which is not a bound tool"):
        make_model().bind_tools([add_numbers, multiply], tool_choice=named("divide"))
    assert server.requests == []


def named(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


def test_strict_and_parallel_tool_calls_are_sent_only_when_set(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(completion())
    make_model().bind_tools([multiply], strict=True, parallel_tool_calls=False).invoke("Hi")
    sent = server.requests[0].json
    assert sent["parallel_tool_calls"] is False
    assert sent["tools"][0]["function"]["strict"] is True


def test_tool_call_round_trip_history(server: ScriptedServer, make_model: Make) -> None:
    server.reply_json(tool_call_completion("multiply", '{"a": 6, "b": 7}'))
    server.reply_json(completion("42"))
    model = make_model().bind_tools([multiply])
    history: list[Any] = [HumanMessage("6 times 7?")]
    reply = model.invoke(history)
    assert reply.tool_calls == [
        {"name": "multiply", "args": {"a": 6, "b": 7}, "id": "chatcmpl-tool-1", "type": "tool_call"}
    ]
    history += [reply, ToolMessage("42", tool_call_id="chatcmpl-tool-1", status="error")]
    assert model.invoke(history).content == "42"
    assert server.requests[1].json["messages"][1:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "chatcmpl-tool-1",
                    "type": "function",
                    "function": {"name": "multiply", "arguments": '{"a": 6, "b": 7}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "chatcmpl-tool-1", "content": "42"},
    ]


def test_images_from_tools_move_to_a_user_turn_after_the_tool_results(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(completion())
    calls = [{"name": "shot", "args": {}, "id": "c1"}, {"name": "log", "args": {}, "id": "c2"}]
    history = [
        HumanMessage("Take a screenshot"),
        AIMessage("", tool_calls=calls),
        ToolMessage(
            content=[
                {"type": "text", "text": "done"},
                {"type": "image", "url": "https://example.com/s.png"},
            ],
            tool_call_id="c1",
        ),
        ToolMessage("logged", tool_call_id="c2"),
    ]
    make_model().invoke(history)
    assert server.requests[0].json["messages"][2:] == [
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
        {"role": "tool", "tool_call_id": "c2", "content": "logged"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Image(s) returned by tool call c1:"},
                {"type": "image_url", "image_url": {"url": "https://example.com/s.png"}},
            ],
        },
    ]


def test_streamed_tool_call_chunks_carry_index_id_name_and_args(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_stream(
        sse(
            tool_delta(id="t1", name="multiply"),
            tool_delta('{"a": 2, "b": 3}'),
            chunk({}, finish_reason="tool_calls"),
        )
    )
    chunks = list(make_model().bind_tools([multiply]).stream("2*3"))
    first = next(c for c in chunks if c.tool_call_chunks)
    assert first.tool_call_chunks == [
        {"name": "multiply", "args": None, "id": "t1", "index": 0, "type": "tool_call_chunk"}
    ]
    merged = reduce(add, chunks)
    assert merged.tool_calls == [
        {"name": "multiply", "args": {"a": 2, "b": 3}, "id": "t1", "type": "tool_call"}
    ]
    assert merged.response_metadata["finish_reason"] == "tool_calls"


def test_tool_call_without_index_in_a_single_call_stream(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_stream(
        sse(
            tool_delta('{"a": 1,', index=None, id="t9", name="multiply"),
            tool_delta(' "b": 1}', index=None),
        )
    )
    merged = reduce(add, make_model().stream("1*1"))
    assert merged.tool_calls == [
        {"name": "multiply", "args": {"a": 1, "b": 1}, "id": "t9", "type": "tool_call"}
    ]
