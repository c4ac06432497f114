"""Tokenizer endpoints on the wire: vLLM's and llama.cpp's bodies and answers. Pure.

We ship no tokenizer for Nebula's models. vLLM and llama.cpp expose theirs over HTTP
(at the server root, beside ``/v1``); these functions build their request bodies and
read their answers. ``langchain_nebula._token_counting`` asks them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

__all__ = [
    "TokenizerProtocol",
    "llamacpp_template_body",
    "llamacpp_tokenize_body",
    "read_llamacpp_prompt",
    "read_token_count",
    "server_root",
    "vllm_tokenize_body",
]

TokenizerProtocol = Literal["vllm", "llamacpp"]


def server_root(base_url: str) -> str:
    """The server root of an OpenAI-style ``base_url`` (``…/v1`` → ``…``)."""
    return base_url.rstrip("/").removesuffix("/v1")


def vllm_tokenize_body(
    model: str, messages: list[dict[str, Any]] | None, text: str | None
) -> dict[str, Any]:
    """VLLM's ``POST /tokenize``: chat messages (templated) or plain text."""
    if messages is not None:
        return {"model": model, "messages": messages, "add_generation_prompt": True}
    return {"model": model, "prompt": text, "add_special_tokens": False}


def llamacpp_template_body(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """llama.cpp's ``POST /apply-template``: the chat template applied to messages."""
    return {"messages": messages}


def llamacpp_tokenize_body(text: str, *, templated: bool) -> dict[str, Any]:
    """llama.cpp's ``POST /tokenize``; a templated prompt keeps its special tokens."""
    return {"content": text, "add_special": templated, "parse_special": templated}


def read_llamacpp_prompt(answer: Mapping[str, Any]) -> str | None:
    """The prompt text of an ``/apply-template`` answer, if it is one."""
    prompt = answer.get("prompt")
    return prompt if isinstance(prompt, str) else None


def read_token_count(answer: Mapping[str, Any]) -> int | None:
    """The count in a ``/tokenize`` answer (vLLM's ``count``, llama.cpp's ``tokens``)."""
    count = answer.get("count")
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        return count
    tokens = answer.get("tokens")
    return len(tokens) if isinstance(tokens, list) else None
