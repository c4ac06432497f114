"""The calls README.md and docs/ document, as a user writes them: type-checked, not run.

``tests/unit_tests/docs/test_documented_calls_typecheck.py`` runs pyright and
``mypy --strict`` (without the pydantic plugin) on this file; both must report nothing.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.load import dumpd, load
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.rate_limiters import InMemoryRateLimiter
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from langchain_nebula import ChatNebula, NebulaEmbeddings, NebulaError, NebulaRateLimitError
from langchain_nebula.catalog import NebulaModel, alist_models, list_models
from langchain_nebula.local import LocalServer, ensure_model, ensure_projector


class City(BaseModel):
    """A city and its country."""

    name: str = Field(description="The city's name")
    country: str


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"Sunny and 21 C in {city}."


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


model = ChatNebula(model="meta-llama/Llama-3.3-70B-Instruct", temperature=0)
configured = ChatNebula(
    model="meta-llama/Llama-3.3-70B-Instruct",
    api_key="ak_...",
    base_url="https://inference.nebulablock.com/v1",
    timeout=30.0,
    stop=["\n\n"],
    max_tokens=256,
    temperature=0.2,
    max_retries=2,
)
every_field = ChatNebula(
    top_p=0.9,
    seed=1,
    n=1,
    presence_penalty=0.1,
    frequency_penalty=0.1,
    logprobs=True,
    top_logprobs=2,
    timeout=httpx.Timeout(10.0, read=60.0),
    total_timeout=120.0,
    max_response_bytes=8 * 1024 * 1024,
    stream_usage=False,
    streaming=True,
    stream_chunk_timeout=60.0,
    include_response_headers=True,
    model_kwargs={"top_k": 40},
    extra_body={"chat_template_kwargs": {"enable_thinking": False}},
    default_headers={"X-Team": "blue"},
    reasoning_parser="think_tags",
    reasoning_in_history=True,
    http_client=httpx.Client(),
    http_async_client=httpx.AsyncClient(),
    rate_limiter=InMemoryRateLimiter(requests_per_second=10),
    output_version="v1",
)
local = ChatNebula(base_url=os.environ["NEBULA_BASE_URL"], model="any-model-name", api_key=None)
legacy = ChatNebula(
    model_name="x",
    nebula_api_key="ak",
    nebula_api_base="http://127.0.0.1:8080/v1",
    request_timeout=5.0,
    stop_sequences=["x"],
)
as_base: BaseChatModel = model

reply: AIMessage = model.invoke("Is Montreal a thriving hub for the AI industry?")
print(reply.content, reply.usage_metadata, reply.response_metadata["model_name"])
full: AIMessageChunk | None = None
for chunk in model.stream("Count to three."):
    full = chunk if full is None else full + chunk
if full is not None:
    print(full.content, full.usage_metadata)


async def main() -> None:
    """The async calls."""
    print((await model.ainvoke("Hello")).content)
    async for piece in model.astream("Hi"):
        print(piece.text, end="")
    prompts: list[str] = ["One?", "Two?"]
    replies = await model.abatch(list(prompts), config={"max_concurrency": 2})
    print([r.content for r in replies])
    print(await alist_models())


asyncio.run(main())

with_tools = model.bind_tools([get_weather, add], tool_choice="any", parallel_tool_calls=False)
ai_message = with_tools.invoke("Weather in Montreal?")
history: list[BaseMessage] = [HumanMessage("Weather in Montreal?"), ai_message]
city: City = model.with_structured_output(City).invoke("Where is the Louvre?")
raw = model.with_structured_output(City, include_raw=True, method="function_calling").invoke("?")
agent = create_agent(model, tools=[get_weather])
state = agent.invoke(
    {"messages": [{"role": "user", "content": "Weather?"}]}, {"recursion_limit": 8}
)

try:
    model.invoke("Hello")
except NebulaRateLimitError as error:
    print(error.retry_after, error.status_code)
except NebulaError as error:
    print(error.status_code, error.message, error.request_id, error.code, error.body)

catalog: list[NebulaModel] = list_models()
chosen = ChatNebula(model=catalog[0].id, profile=catalog[0].profile())
print(chosen.profile, ensure_model())
with LocalServer() as server:
    print(ChatNebula(base_url=server.base_url, model="SmolLM2-135M-Instruct").invoke("Hi"))
projector: Path = ensure_projector()
with LocalServer(vision=True, projector_path=projector) as server:
    print(server.vision, server.projector_path)
restored = load(dumpd(model), allowed_objects=[ChatNebula], valid_namespaces=["langchain_nebula"])

embeddings = NebulaEmbeddings(
    model="BAAI/bge-large-en-v1.5",
    api_key="ak_...",
    base_url="https://inference.nebulablock.com/v1",
    timeout=30.0,
    dimensions=512,
    chunk_size=256,
    max_concurrency=2,
    encoding_format="float",
)
vectors: list[list[float]] = embeddings.embed_documents(["one", "two"])
query: list[float] = embeddings.embed_query("one")
