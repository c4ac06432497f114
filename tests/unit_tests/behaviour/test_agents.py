"""A LangChain agent runs a two-step tool loop against the scripted server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, ToolMessage

from langchain_nebula import ChatNebula
from tests.scripted_server import ScriptedServer, completion

Make = Callable[..., ChatNebula]


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"It is sunny and 21 C in {city}."


def script_two_steps(server: ScriptedServer) -> None:
    calls = [
        {
            "id": "chatcmpl-tool-7",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Montreal"}'},
        }
    ]
    # Distinct response ids: LangGraph merges messages that share an id.
    server.reply_json(completion(None, finish_reason="tool_calls", tool_calls=calls, id="c-1"))
    server.reply_json(completion("It is sunny and 21 C in Montreal.", id="c-2"))


def assert_exact_conversation(server: ScriptedServer, result: dict[str, Any]) -> None:
    first, second = (request.json for request in server.requests)
    assert first["messages"] == [{"role": "user", "content": "Weather in Montreal?"}]
    assert [t["function"]["name"] for t in first["tools"]] == ["get_weather"]
    assert second["messages"] == [
        {"role": "user", "content": "Weather in Montreal?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "chatcmpl-tool-7",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Montreal"}'},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "chatcmpl-tool-7",
            "content": "It is sunny and 21 C in Montreal.",
        },
    ]
    messages = result["messages"]
    assert isinstance(messages[1], AIMessage)
    assert messages[1].tool_calls[0]["args"] == {"city": "Montreal"}
    assert isinstance(messages[2], ToolMessage)
    assert messages[-1].content == "It is sunny and 21 C in Montreal."
    assert len(server.requests) == 2


def test_agent_tool_loop_sync(server: ScriptedServer, make_model: Make) -> None:
    script_two_steps(server)
    agent = create_agent(make_model(), tools=[get_weather])
    result = agent.invoke({"messages": [{"role": "user", "content": "Weather in Montreal?"}]})
    assert_exact_conversation(server, result)


async def test_agent_tool_loop_async(server: ScriptedServer, make_model: Make) -> None:
    script_two_steps(server)
    agent = create_agent(make_model(), tools=[get_weather])
    result = await agent.ainvoke(
        {"messages": [{"role": "user", "content": "Weather in Montreal?"}]}
    )
    assert_exact_conversation(server, result)


def test_agent_streams_through_the_tool_loop(server: ScriptedServer, make_model: Make) -> None:
    from tests.scripted_server import chunk, sse, text_stream

    call = {
        "index": 0,
        "id": "chatcmpl-tool-7",
        "type": "function",
        "function": {"name": "get_weather"},
    }
    args = {"index": 0, "function": {"arguments": '{"city": "Montreal"}'}}
    server.reply_stream(
        sse(
            chunk({"tool_calls": [call]}),
            chunk({"tool_calls": [args]}),
            chunk({}, finish_reason="tool_calls"),
        )
    )
    server.reply_stream(text_stream("Sunny", " in Montreal."))
    agent = create_agent(make_model(streaming=True), tools=[get_weather])
    tokens = [
        message.text
        for message, _ in agent.stream(
            {"messages": [{"role": "user", "content": "Weather in Montreal?"}]},
            stream_mode="messages",
        )
        if isinstance(message, AIMessage) and message.text
    ]
    assert "".join(tokens) == "Sunny in Montreal."
    assert server.requests[1].json["messages"][2]["tool_call_id"] == "chatcmpl-tool-7"
