"""The "lc-floor" contestant: the least any LangChain chat integration can cost.

A ``BaseChatModel`` that posts with raw httpx, reads with ``json.loads`` and builds
bare ``AIMessage``/``AIMessageChunk``s: no usage, no metadata, no retries, no error
mapping. It lives in its own module, importing only what such an integration must, so
that ``import floor_model`` is also the floor for ChatNebula's import time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

__all__ = ["ASYNC_CONNECTIONS", "FloorChatModel", "asse_texts", "async_client", "sse_texts"]

# Connections the floors' async clients pool and keep, as ChatNebula's pool does.
ASYNC_CONNECTIONS = 100
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def sse_text(line: str) -> str | None:
    """The content delta of one SSE line ("" for none, ``None`` at ``[DONE]``)."""
    if not line.startswith("data: "):
        return ""
    data = line[6:]
    if data == "[DONE]":
        return None
    choices = json.loads(data)["choices"]
    return (choices[0]["delta"].get("content") or "") if choices else ""


def sse_texts(lines: Iterator[str]) -> Iterator[str]:
    """The content deltas of a chat-completion SSE body, given line by line."""
    for line in lines:
        text = sse_text(line)
        if text is None:
            return
        if text:
            yield text


async def asse_texts(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """``sse_texts`` over async lines."""
    async for line in lines:
        text = sse_text(line)
        if text is None:
            return
        if text:
            yield text


def async_client(connections: int = ASYNC_CONNECTIONS) -> httpx.AsyncClient:
    """An async client that keeps as many idle connections as it may open."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(60.0))


class FloorChatModel(BaseChatModel):
    """Raw httpx and bare messages behind LangChain's ``BaseChatModel``."""

    base_url: str
    model_name: str
    api_key: str
    connections: int = ASYNC_CONNECTIONS
    """The async pool's size (and the async calls in flight)."""
    _client: httpx.Client = PrivateAttr(default_factory=httpx.Client)
    _async_client: httpx.AsyncClient | None = PrivateAttr(default=None)
    _slots: asyncio.Semaphore | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "bench-floor"

    def _post_args(self, messages: list[BaseMessage], *, stream: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model_name,
            "messages": [{"role": _ROLES[m.type], "content": m.content} for m in messages],
        }
        if stream:
            payload["stream"] = True
        return {
            "url": f"{self.base_url}/chat/completions",
            "content": json.dumps(payload).encode(),
            "headers": {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.api_key}",
            },
        }

    @staticmethod
    def _result(body: bytes) -> ChatResult:
        text = json.loads(body)["choices"][0]["message"]["content"]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        response = self._client.post(**self._post_args(messages, stream=False))
        response.raise_for_status()
        return self._result(response.content)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        client, slots = self._async()
        async with slots:
            response = await client.post(**self._post_args(messages, stream=False))
        response.raise_for_status()
        return self._result(response.content)

    def _async(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        if self._async_client is None or self._slots is None:
            self._async_client = async_client(self.connections)
            self._slots = asyncio.Semaphore(self.connections)
        return self._async_client, self._slots

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        with self._client.stream("POST", **self._post_args(messages, stream=True)) as response:
            response.raise_for_status()
            for text in sse_texts(response.iter_lines()):
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                if run_manager:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        client, _ = self._async()
        request = client.build_request("POST", **self._post_args(messages, stream=True))
        response = await client.send(request, stream=True)
        try:
            response.raise_for_status()
            async for text in asse_texts(response.aiter_lines()):
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                if run_manager:
                    await run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
        finally:
            await response.aclose()

    def close(self) -> None:
        """Closes the sync client."""
        self._client.close()

    async def aclose(self) -> None:
        """Closes the async client, on the loop that used it."""
        if self._async_client is not None:
            await self._async_client.aclose()
