"""ChatNebula end to end against real software: llama.cpp serving SmolLM2-135M."""

from __future__ import annotations

import asyncio
from functools import reduce
from operator import add

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from pydantic import BaseModel

from langchain_nebula import ChatNebula, NebulaBadRequestError
from tests.integration_tests.conftest import LOCAL_MODEL


class Country(BaseModel):
    """A country and its capital."""

    name: str
    capital: str


@pytest.fixture
def model(local_base_url: str) -> ChatNebula:
    return ChatNebula(base_url=local_base_url, model=LOCAL_MODEL, temperature=0, max_tokens=32)


def test_invoke_returns_text_usage_and_metadata(model: ChatNebula) -> None:
    reply = model.invoke("What is the capital of France?")
    assert isinstance(reply.content, str)
    assert reply.content.strip()
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] > 0
    assert reply.usage_metadata["output_tokens"] > 0
    assert reply.response_metadata["finish_reason"] in ("stop", "length")
    assert reply.response_metadata["model_name"]


def test_stream_yields_several_chunks_and_usage_once(model: ChatNebula) -> None:
    chunks = list(model.stream("Count from one to ten in words."))
    assert sum(1 for c in chunks if c.text) > 3
    assert sum(1 for c in chunks if c.usage_metadata) == 1
    merged = reduce(add, chunks)
    assert merged.text.strip()
    assert merged.response_metadata["finish_reason"] in ("stop", "length")
    assert merged.chunk_position == "last"


def test_stream_and_invoke_agree_at_temperature_zero(model: ChatNebula) -> None:
    prompt = "Name a primary colour."
    assert reduce(add, model.stream(prompt)).text == model.invoke(prompt).content


async def test_async_invoke_stream_and_batch(model: ChatNebula) -> None:
    reply = await model.ainvoke("Say hello.")
    assert reply.content
    chunks = [c async for c in model.astream("Say hello.")]
    assert reduce(add, chunks).text == reply.content
    replies = await model.abatch(["One word: red?", "One word: blue?", "One word: green?"])
    assert all(r.content for r in replies)


def test_batch_runs_in_parallel_slots(model: ChatNebula) -> None:
    replies = model.batch(
        [f"Repeat the number {i}." for i in range(4)], config={"max_concurrency": 4}
    )
    assert len(replies) == 4
    assert all(isinstance(r.content, str) for r in replies)


def test_json_schema_structured_output_is_grammar_constrained(model: ChatNebula) -> None:
    # Room for the whole object: a reply cut at max_tokens is refused, not repaired.
    roomy = model.model_copy(update={"max_tokens": 256})
    result = roomy.with_structured_output(Country).invoke("Tell me about Japan.")
    assert isinstance(result, Country)


def test_streamed_structured_output_yields_partials(local_base_url: str) -> None:
    model = ChatNebula(base_url=local_base_url, model=LOCAL_MODEL, temperature=0, max_tokens=64)
    schema = {
        "title": "Country",
        "type": "object",
        "properties": {"name": {"type": "string"}, "capital": {"type": "string"}},
        "required": ["name", "capital"],
    }
    partials = list(model.with_structured_output(schema).stream("Tell me about Italy."))
    assert len(partials) > 1
    assert set(partials[-1]) == {"name", "capital"}


def test_bad_request_maps_to_a_typed_error(model: ChatNebula) -> None:
    with pytest.raises(NebulaBadRequestError) as caught:
        model.invoke("Hi", response_format={"type": "not-a-format"})
    assert caught.value.status_code == 400
    assert caught.value.message


def test_lcel_chain(model: ChatNebula) -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "You answer briefly."), ("human", "{q}")])
    answer = (prompt | model | StrOutputParser()).invoke({"q": "What colour is the sky?"})
    assert isinstance(answer, str)
    assert answer.strip()


def test_named_tool_call_round_trip(local_base_url: str) -> None:
    def magic_function(input: int) -> int:
        """Applies a magic function to an input."""
        return input + 2

    model = ChatNebula(base_url=local_base_url, model=LOCAL_MODEL, temperature=0, max_tokens=48)
    with_tools = model.bind_tools([magic_function], tool_choice="magic_function")
    reply = with_tools.invoke("What is the value of magic_function(3)? Use the tool.")
    assert reply.tool_calls, f"no tool call; the model said {reply.content!r}"
    assert reply.tool_calls[0]["name"] == "magic_function"
    assert reply.tool_calls[0]["args"] == {"input": 3}


def test_agent_runs_a_tool_loop(local_base_url: str) -> None:
    from langchain.agents import create_agent

    def magic_function(input: int) -> int:
        """Applies a magic function to an input."""
        return input + 2

    model = ChatNebula(base_url=local_base_url, model=LOCAL_MODEL, temperature=0, max_tokens=48)
    agent = create_agent(model, tools=[magic_function])
    result = agent.invoke(
        {
            "messages": [
                {"role": "user", "content": "What is the value of magic_function(3)? Use the tool."}
            ]
        },
        {"recursion_limit": 6},
    )
    kinds = [m.type for m in result["messages"]]
    assert kinds[:3] == ["human", "ai", "tool"], kinds
    assert result["messages"][2].content == "5"
    assert kinds[-1] == "ai"


def test_repeated_event_loops_reuse_the_model(model: ChatNebula) -> None:
    for _ in range(2):
        assert asyncio.run(model.ainvoke("Say yes.")).content


def test_token_count_is_what_the_server_bills(model: ChatNebula) -> None:
    from langchain_core.messages import HumanMessage, SystemMessage

    messages = [
        SystemMessage("You answer briefly."),
        HumanMessage("What is the capital of France?"),
    ]
    counted = model.get_num_tokens_from_messages(messages)
    usage = model.invoke(messages).usage_metadata
    assert usage is not None
    assert counted == usage["input_tokens"]
