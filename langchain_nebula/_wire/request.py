"""A chat request: the settings, the call's keywords and the messages → one JSON body. Pure.

``chat_request`` decides every field that goes on the wire and how the answer's
reasoning is read. A model's request-side quirk belongs here (read from its
``ModelFacts``), not in the model class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from langchain_core.messages import BaseMessage

from langchain_nebula._wire.json_codec import encode_json
from langchain_nebula._wire.messages import map_messages
from langchain_nebula._wire.model_facts import reasoning_form_for
from langchain_nebula._wire.reasoning import ReasoningMode, ReasoningParser

__all__ = [
    "CONTROL_KWARGS",
    "SAMPLING_FIELDS",
    "SERVER_FIELDS",
    "chat_request",
    "reasoning_mode",
]

SAMPLING_FIELDS: Final = (
    "temperature",
    "max_tokens",
    "top_p",
    "stop",
    "seed",
    "n",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
)
"""Sampling settings sent only when set, under their wire names."""

CONTROL_KWARGS: Final = frozenset({"stream", "stream_usage"})
"""Call-time keywords that steer the call rather than go on the wire."""

SERVER_FIELDS: Final = frozenset(
    {
        "top_k",
        "min_p",
        "repetition_penalty",
        "length_penalty",
        "min_tokens",
        "best_of",
        "ignore_eos",
        "chat_template_kwargs",
        "user",
        "logit_bias",
        "response_format",
        "service_tier",
    }
)
"""Request fields of OpenAI-compatible servers (vLLM's sampling extras, mostly) that are
not model settings: passed as constructor keywords they are meant, not misspelt."""


def chat_request(
    defaults: Mapping[str, Any],
    messages: Sequence[BaseMessage],
    stop: list[str] | None,
    kwargs: Mapping[str, Any],
    *,
    stream: bool,
    stream_usage: bool,
    extra_body: Mapping[str, Any] | None,
    reasoning_in_history: bool,
    reasoning_parser: ReasoningParser,
) -> tuple[bytes, ReasoningMode]:
    """Builds the JSON body of a chat completion request.

    Args:
        defaults: The model's own request fields (``model``, sampling, ``model_kwargs``).
        messages: The conversation.
        stop: Stop sequences given to the call, overriding the model's.
        kwargs: The call's keywords (bound or passed); ``None`` values are not sent.
        stream: Whether to ask for a stream.
        stream_usage: Whether a stream asks for usage (a call's ``stream_usage``
            keyword overrides it).
        extra_body: Fields merged last, over everything else.
        reasoning_in_history: Send earlier AI messages' reasoning back.
        reasoning_parser: The model's ``reasoning_parser`` setting.

    Returns:
        The body, and how to read reasoning from the answer.

    Raises:
        ValueError: On input that cannot be sent, before any I/O.
    """
    wire_messages = map_messages(messages, reasoning_in_history=reasoning_in_history)
    payload: dict[str, Any] = {**defaults, "messages": wire_messages}
    for key, value in kwargs.items():
        if value is not None and key not in CONTROL_KWARGS:
            payload[key] = value
    if stop is not None:
        payload["stop"] = stop
    if stream:
        payload["stream"] = True
        if kwargs.get("stream_usage", stream_usage):
            payload.setdefault("stream_options", {"include_usage": True})
    if extra_body:
        payload.update(extra_body)
    if stream and (payload.get("n") or 1) > 1:
        msg = "n > 1 cannot be streamed; use invoke/generate for several choices"
        raise ValueError(msg)
    return encode_json(payload), reasoning_mode(reasoning_parser, payload)


def reasoning_mode(parser: ReasoningParser, payload: Mapping[str, Any]) -> ReasoningMode:
    """How to read reasoning from the answer to ``payload``, by the model's setting."""
    if parser == "think_tags":
        return "tags"
    if parser != "auto":
        return parser
    template = payload.get("chat_template_kwargs")
    thinking_off = isinstance(template, Mapping) and template.get("enable_thinking") is False
    if not thinking_off and reasoning_form_for(str(payload.get("model"))) == "think_tags":
        return "tags"
    return "leading_tag"
