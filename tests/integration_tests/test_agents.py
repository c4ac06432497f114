"""LangChain v1 agents on real servers: native structured output through LiteLLM.

``create_agent(response_format=Schema)`` picks the provider's own structured output
when the model's profile says ``structured_output``; llama.cpp behind the proxy honours
``json_schema`` with a grammar, so the 135M model's reply always fits the schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

import httpx
import pytest
from langchain.agents import create_agent
from langchain_core.exceptions import OutputParserException
from pydantic import BaseModel

from langchain_nebula import ChatNebula
from tests.litellm_proxy import MASTER_KEY, TEXT_MODEL


class Verdict(BaseModel):
    """Whether the statement is true."""

    answer: Literal["yes", "no"]


def get_weather(city: str) -> str:
    """Get the weather for a city."""
    return f"It is sunny in {city}."


class Recorder:
    """Keeps every chat request body the model sends (an httpx event hook)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> None:
        if request.url.path.endswith("/chat/completions"):
            self.bodies.append(json.loads(request.content))


@pytest.fixture
def recorded(litellm_base_url: str) -> Iterator[tuple[ChatNebula, Recorder]]:
    recorder = Recorder()
    with httpx.Client(event_hooks={"request": [recorder]}, timeout=120) as client:
        model = ChatNebula(
            base_url=litellm_base_url,
            api_key=MASTER_KEY,
            model=TEXT_MODEL,
            temperature=0,
            max_tokens=24,
            max_retries=0,
            http_client=client,
        )
        yield model, recorder


@pytest.mark.parametrize("tools", [[], [get_weather]], ids=["no tools", "with a tool"])
def test_create_agent_uses_native_structured_output(
    recorded: tuple[ChatNebula, Recorder], tools: list[Any]
) -> None:
    model, recorder = recorded
    agent = create_agent(model, tools=tools, response_format=Verdict)
    result = agent.invoke(
        {"messages": [{"role": "user", "content": "Is Paris in France? Answer yes or no."}]},
        {"recursion_limit": 6},
    )
    assert isinstance(result["structured_response"], Verdict)
    first = recorder.bodies[0]
    assert first["response_format"]["type"] == "json_schema"
    assert first["response_format"]["json_schema"]["name"] == "Verdict"
    # No extra schema tool: the tool strategy would have added one and forced it.
    names = [tool["function"]["name"] for tool in first.get("tools", [])]
    assert names == [tool.__name__ for tool in tools]
    assert "tool_choice" not in first


def test_a_native_structured_reply_cut_at_the_limit_says_so_in_an_agent(
    recorded: tuple[ChatNebula, Recorder],
) -> None:
    model, _ = recorded
    agent = create_agent(model.model_copy(update={"max_tokens": 2}), response_format=Verdict)
    with pytest.raises(OutputParserException, match="cut off at the token limit"):
        agent.invoke({"messages": [{"role": "user", "content": "Is Paris in France?"}]})
