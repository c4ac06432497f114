"""The "lc-floor" contestant: the least any LangChain chat integration can cost.

A ``BaseChatModel`` that posts with raw httpx, reads with ``json.loads`` and builds
bare ``AIMessage``/``AIMessageChunk``s: no usage, no metadata, no retries, no error
mapping. It lives in its own module, importing only what such an integration must, so
that ``import floor_model`` is also the floor for ChatNebula's import time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

__all__ = ["ASYNC_CONNECTIONS", "FloorChatModel", "sse_texts"]

# Connections the floors' async clients pool and keep, as ChatNebula's pool does.
ASYNC_CONNECTIONS = 100
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def sse_texts(lines: Iterator[str]) -> Iterator[str]:
    """The content deltas of a chat-completion SSE body, given line by line."""
    for line in lines:
        if not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            return
        choices = json.loads(data)["choices"]
        if choices and (text := choices[0]["delta"].get("content")):
            yield text


def async_client() -> httpx.AsyncClient:
    """An async client that keeps as many idle connections as it may open."""
    limits = httpx.Limits(
        max_connections=ASYNC_CONNECTIONS, max_keepalive_connections=ASYNC_CONNECTIONS
    )
    return httpx.AsyncClient(limits=limits)


class FloorChatModel(BaseChatModel):
    """Raw httpx and bare messages behind LangChain's ``BaseChatModel``."""

    base_url: str
    model_name: str
    api_key: str
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
        if self._async_client is None or self._slots is None:
            self._async_client = async_client()
            self._slots = asyncio.Semaphore(ASYNC_CONNECTIONS)
        async with self._slots:
            response = await self._async_client.post(**self._post_args(messages, stream=False))
        response.raise_for_status()
        return self._result(response.content)

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

    def close(self) -> None:
        """Closes the sync client."""
        self._client.close()

    async def aclose(self) -> None:
        """Closes the async client, on the loop that used it."""
        if self._async_client is not None:
            await self._async_client.aclose()
