"""A chat request: the settings, the call's keywords and the messages → one JSON body. Pure.

``chat_request`` decides every field that goes on the wire and how the answer's
reasoning is read. A model's request-side quirk belongs here (read from its
``ModelFacts``), not in the model class.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from langchain_core.language_models import LangSmithParams
from langchain_core.messages import BaseMessage

from langchain_nebula._provider import PROVIDER
from langchain_nebula._wire.json_codec import encode_json
from langchain_nebula._wire.messages import map_messages
from langchain_nebula._wire.model_facts import facts_for
from langchain_nebula._wire.reasoning import ReasoningMode, ReasoningParser
from langchain_nebula._wire.tools import json_schema_format

__all__ = [
    "CONTROL_KWARGS",
    "PARSED_DOWNSTREAM",
    "SAMPLING_FIELDS",
    "SERVER_FIELDS",
    "ChatRequest",
    "ReasoningLevel",
    "chat_request",
    "langsmith_params",
    "reasoning_fields",
    "reasoning_mode",
]

ReasoningLevel = Literal["low", "medium", "high"]
_LEVELS: Final = ("low", "medium", "high")

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

PARSED_DOWNSTREAM: Final = "nebula_parsed_downstream"
"""Bound by ``with_structured_output``: its parser, not the model, judges the reply (so
``include_raw`` can still hand back a refused or cut reply)."""

CONTROL_KWARGS: Final = frozenset(
    {"stream", "stream_usage", "reasoning", "reasoning_effort", PARSED_DOWNSTREAM}
)
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


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat completion request, ready to send.

    Attributes:
        body: The JSON body.
        mode: How to read reasoning from the answer.
        structured: Whether the answer must be JSON (``response_format`` asks for it).
        schema: The class a ``response_format`` was given as, to parse the answer into.
    """

    body: bytes
    mode: ReasoningMode
    structured: bool = False
    schema: Any = None


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
    reasoning: bool | str | None = None,
    disabled_params: Mapping[str, Any] | None = None,
) -> ChatRequest:
    """Builds a chat completion request.

    Args:
        defaults: The model's own request fields (``model``, sampling, ``model_kwargs``).
        messages: The conversation.
        stop: Stop sequences given to the call, overriding the model's.
        kwargs: The call's keywords (bound or passed); ``None`` values are not sent.
            ``max_completion_tokens`` is sent as ``max_tokens``; ``reasoning`` (or
            ``reasoning_effort``) overrides the model's switch; a ``response_format``
            given as a Pydantic class, TypedDict or JSON schema is sent as ``json_schema``.
        stream: Whether to ask for a stream.
        stream_usage: Whether a stream asks for usage (a call's ``stream_usage``
            keyword overrides it).
        extra_body: Fields merged last, over everything else.
        reasoning_in_history: Send earlier AI messages' reasoning back.
        reasoning_parser: The model's ``reasoning_parser`` setting.
        reasoning: The model's reasoning switch (see ``reasoning_fields``).
        disabled_params: Fields never sent (``None``: any value; a list: those values).

    Raises:
        ValueError: On input that cannot be sent, before any I/O.
    """
    wire_messages = map_messages(messages, reasoning_in_history=reasoning_in_history)
    payload: dict[str, Any] = {**defaults, "messages": wire_messages}
    for key, value in kwargs.items():
        if value is not None and key not in CONTROL_KWARGS:
            payload[key] = value
    if "max_completion_tokens" in payload:
        payload["max_tokens"] = payload.pop("max_completion_tokens")
    if stop is not None:
        payload["stop"] = stop
    if stream:
        payload["stream"] = True
        if kwargs.get("stream_usage", stream_usage):
            payload.setdefault("stream_options", {"include_usage": True})
    switch = kwargs.get("reasoning", kwargs.get("reasoning_effort", reasoning))
    if switch is not None:
        _merge(payload, reasoning_fields(str(payload.get("model")), switch))
    schema = None
    response_format = payload.get("response_format")
    if response_format is not None and not _is_wire_format(response_format):
        schema = response_format
        payload["response_format"] = json_schema_format(schema, strict=kwargs.get("strict"))
    if disabled_params:
        _drop_disabled(payload, disabled_params)
    if extra_body:
        payload.update(extra_body)
    if stream and (payload.get("n") or 1) > 1:
        msg = "n > 1 cannot be streamed; use invoke/generate for several choices"
        raise ValueError(msg)
    structured = (
        not kwargs.get(PARSED_DOWNSTREAM)
        and isinstance(rf := payload.get("response_format"), Mapping)
        and rf.get("type") in ("json_schema", "json_object")
    )
    return ChatRequest(
        encode_json(payload), reasoning_mode(reasoning_parser, payload), structured, schema
    )


def _is_wire_format(response_format: Any) -> bool:
    return isinstance(response_format, Mapping) and isinstance(response_format.get("type"), str)


def _merge(payload: dict[str, Any], fields: Mapping[str, Any]) -> None:
    for key, value in fields.items():
        if key == "chat_template_kwargs":
            own = payload.get(key)
            payload[key] = {**(own if isinstance(own, Mapping) else {}), **value}
        else:
            payload[key] = value


def _drop_disabled(payload: dict[str, Any], disabled: Mapping[str, Any]) -> None:
    for key, values in disabled.items():
        if key not in payload:
            continue
        if values is None or payload[key] in values:
            del payload[key]


def reasoning_fields(model: str, switch: bool | str) -> dict[str, Any]:
    """The request fields that turn ``model``'s thinking on or off, or to a level.

    Raises:
        ValueError: If ``switch`` is not a bool or a level, or ``model`` cannot do it.
    """
    if not isinstance(switch, bool) and switch not in _LEVELS:
        msg = f"reasoning must be True, False, 'low', 'medium' or 'high', not {switch!r}"
        raise ValueError(msg)
    how = facts_for(model).reasoning_switch
    on = switch is not False
    if how == "never":
        if not on:
            return {}
        msg = f"{model} does not reason: reasoning={switch!r} cannot be honoured"
        raise ValueError(msg)
    if how == "always":
        if not on:
            msg = f"{model} always reasons and cannot be switched off (reasoning=False)"
            raise ValueError(msg)
        if isinstance(switch, str):
            _no_levels(model, switch)
        return {}
    if how == "reasoning_effort" or (how is None and isinstance(switch, str)):
        if switch is False:
            msg = f"{model} cannot turn reasoning off; pass a level ('low') instead"
            raise ValueError(msg)
        return {} if switch is True else {"reasoning_effort": switch}
    if isinstance(switch, str):
        _no_levels(model, switch)
    key = "thinking" if how == "thinking" else "enable_thinking"
    return {"chat_template_kwargs": {key: on}}


def _no_levels(model: str, level: str) -> None:
    warnings.warn(
        f"{model} has no reasoning levels: reasoning={level!r} turns thinking on",
        UserWarning,
        stacklevel=4,
    )


def reasoning_mode(parser: ReasoningParser, payload: Mapping[str, Any]) -> ReasoningMode:
    """How to read reasoning from the answer to ``payload``, by the model's setting.

    Thinking turned off on the wire is not looked for in the reply.
    """
    if parser == "think_tags":
        return "tags"
    if parser != "auto":
        return parser
    template = payload.get("chat_template_kwargs")
    thinking_off = isinstance(template, Mapping) and (
        template.get("enable_thinking") is False or template.get("thinking") is False
    )
    if not thinking_off and facts_for(str(payload.get("model"))).reasoning_form == "think_tags":
        return "tags"
    return "leading_tag"


def langsmith_params(
    defaults: Mapping[str, Any], stop: list[str] | None, kwargs: Mapping[str, Any]
) -> LangSmithParams:
    """What tracers record of a call: the model and the sampling it was asked with."""
    params = LangSmithParams(
        ls_provider=PROVIDER,
        ls_model_name=kwargs.get("model") or defaults["model"],
        ls_model_type="chat",
    )
    temperature = kwargs.get("temperature", defaults.get("temperature"))
    if temperature is not None:
        params["ls_temperature"] = temperature
    max_tokens = (
        kwargs.get("max_tokens")
        or kwargs.get("max_completion_tokens")
        or defaults.get("max_tokens")
    )
    if max_tokens is not None:
        params["ls_max_tokens"] = max_tokens
    stop_sequences = stop or kwargs.get("stop") or defaults.get("stop")
    if stop_sequences:
        params["ls_stop"] = [stop_sequences] if isinstance(stop_sequences, str) else stop_sequences
    return params
