"""Counting tokens: the server's own tokenizer where one answers, else an honest estimate.

We ship no tokenizer for Nebula's models. vLLM and llama.cpp expose theirs over HTTP
(at the server root, beside ``/v1``); when one answers, counts are exact. Otherwise
the count is langchain-core's approximation (about four characters a token), which
needs no download and works offline. Bodies and answers are mapped by the pure
functions of ``_wire.tokenizer``; ``ServerTokenizer`` asks through the model's client.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langchain_core.messages import BaseMessage
from langchain_core.messages.utils import count_tokens_approximately

from langchain_nebula._http.client import NebulaClient
from langchain_nebula._wire.json_codec import encode_json
from langchain_nebula._wire.messages import map_messages
from langchain_nebula._wire.tokenizer import (
    TokenizerProtocol,
    llamacpp_template_body,
    llamacpp_tokenize_body,
    read_llamacpp_prompt,
    read_token_count,
    server_root,
    vllm_tokenize_body,
)
from langchain_nebula.errors import NebulaError, NebulaResponseError

__all__ = ["ServerTokenizer", "TokenCounting"]

TokenCounting = Literal["auto", "server", "approximate"]
"""``"server"``: the server's tokenizer, or an error; ``"approximate"``: the estimate;
``"auto"``: the server's if it answers the first time, else the estimate from then on."""

logger = logging.getLogger("langchain_nebula")


class ServerTokenizer:
    """Finds which tokenizer endpoint a server answers, remembers it, and asks it."""

    __slots__ = ("_found",)

    def __init__(self) -> None:
        # server root -> the protocol that answered, or None when none did
        self._found: dict[str, TokenizerProtocol | None] = {}

    def count_messages(
        self,
        client: NebulaClient,
        model: str,
        counting: TokenCounting,
        messages: Sequence[BaseMessage],
        tools: Sequence[Any] | None,
    ) -> int:
        """The tokens ``messages`` and ``tools`` take: the server's count, else an estimate.

        The tokenizer endpoints take no tools: theirs are always estimated.
        """
        count = self.count(client, model, counting, map_messages(messages), None)
        if count is None:
            return count_tokens_approximately(messages, tools=list(tools) if tools else None)
        if tools:
            count += count_tokens_approximately([], tools=list(tools))
        return count

    def count_text(
        self, client: NebulaClient, model: str, counting: TokenCounting, text: str
    ) -> int:
        """The tokens of ``text``: the server's count, else about four characters a token."""
        count = self.count(client, model, counting, None, text)
        return count if count is not None else math.ceil(len(text) / 4)

    def count(
        self,
        client: NebulaClient,
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
        root = server_root(client.base_url)
        known = self._found.get(root, "unknown")
        if known is None:
            return None
        candidates: tuple[TokenizerProtocol, ...] = (
            ("vllm", "llamacpp") if known == "unknown" else (known,)  # type: ignore[assignment]
        )
        failure: NebulaError | None = None
        for protocol in candidates:
            try:
                count = _ask(client, model, protocol, root, messages, text)
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
    client: NebulaClient,
    model: str,
    protocol: TokenizerProtocol,
    root: str,
    messages: list[dict[str, Any]] | None,
    text: str | None,
) -> int | None:
    def post(path: str, body: dict[str, Any]) -> Mapping[str, Any]:
        answer, _ = client.post_json(f"{root}{path}", encode_json(body))
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
