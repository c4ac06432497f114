"""Counting tokens: the server's own tokenizer where one answers, else an honest estimate.

We ship no tokenizer for Nebula's models. vLLM and llama.cpp expose theirs over HTTP
(at the server root, beside ``/v1``); when one answers, counts are exact. Otherwise
the count is langchain-core's approximation (about four characters a token), which
needs no download and works offline. Bodies and answers are mapped by the pure
functions below; ``ServerTokenizer`` asks through the model's connection.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

from langchain_nebula._connection import NebulaConnection
from langchain_nebula._exceptions import NebulaError, NebulaResponseError
from langchain_nebula._transport import encode_json

__all__ = [
    "ServerTokenizer",
    "TokenCounting",
    "TokenizerProtocol",
    "llamacpp_template_body",
    "llamacpp_tokenize_body",
    "read_llamacpp_prompt",
    "read_token_count",
    "server_root",
    "vllm_tokenize_body",
]

TokenCounting = Literal["auto", "server", "approximate"]
"""``"server"``: the server's tokenizer, or an error; ``"approximate"``: the estimate;
``"auto"``: the server's if it answers the first time, else the estimate from then on."""

TokenizerProtocol = Literal["vllm", "llamacpp"]

logger = logging.getLogger("langchain_nebula")


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


class ServerTokenizer:
    """Finds which tokenizer endpoint a server answers, remembers it, and asks it."""

    __slots__ = ("_found",)

    def __init__(self) -> None:
        # server root -> the protocol that answered, or None when none did
        self._found: dict[str, TokenizerProtocol | None] = {}

    def count(
        self,
        connection: NebulaConnection,
        model: str,
        counting: TokenCounting,
        messages: list[dict[str, Any]] | None,
        text: str | None,
    ) -> int | None:
        """The server's count for ``messages`` (wire form) or ``text``; ``None`` to estimate.

        Raises:
            NebulaResponseError: With ``counting="server"``, when no tokenizer endpoint
                answers.
        """
        if counting == "approximate":
            return None
        root = server_root(connection._wired().base_url)
        known = self._found.get(root, "unknown")
        if known is None:
            return None
        candidates: tuple[TokenizerProtocol, ...] = (
            ("vllm", "llamacpp") if known == "unknown" else (known,)  # type: ignore[assignment]
        )
        failure: NebulaError | None = None
        for protocol in candidates:
            try:
                count = _ask(connection, model, protocol, root, messages, text)
            except NebulaError as error:
                failure = error
                continue
            if count is not None:
                self._found[root] = protocol
                return count
        if counting == "server":
            msg = (
                f"the server at {root} answered no tokenizer endpoint (tried vLLM's and "
                "llama.cpp's /tokenize); use token_counting='approximate' or 'auto'"
            )
            raise NebulaResponseError(msg) from failure
        self._found[root] = None
        logger.info("No tokenizer endpoint at %s: counting tokens approximately", root)
        return None


def _ask(
    connection: NebulaConnection,
    model: str,
    protocol: TokenizerProtocol,
    root: str,
    messages: list[dict[str, Any]] | None,
    text: str | None,
) -> int | None:
    def post(path: str, body: dict[str, Any]) -> Mapping[str, Any]:
        endpoint = connection._endpoint(f"{root}{path}")
        answer, _ = connection._call_json(endpoint, encode_json(body))
        return answer

    if protocol == "vllm":
        count = post("/tokenize", vllm_tokenize_body(model, messages, text)).get("count")
        return count if isinstance(count, int) and not isinstance(count, bool) else None
    if messages is not None:
        text = read_llamacpp_prompt(post("/apply-template", llamacpp_template_body(messages)))
        if text is None:
            return None
    body = llamacpp_tokenize_body(text or "", templated=messages is not None)
    return read_token_count(post("/tokenize", body))
