"""What each Nebula chat model can do, and how its reasoning arrives and is switched. Pure.

Only facts that are known are stated; a key that is absent means "unknown", and a
``False`` means "no". Context sizes are Nebula's served limits where Nebula has
published them (DeepSeek-R1-Distill-Llama-70B), and otherwise the context window the
model's publisher states on its model card: a deployment may serve less, and the live
catalog (``langchain_nebula.catalog.list_models``) says what it actually serves.

Nebula serves its chat models with vLLM, whose guided decoding honours
``response_format`` (``json_schema``) for every model: ``structured_output`` is true
for all of them. Tool calling follows what each publisher documents.

A model id nothing is known about gets ``GENERIC_PROFILE``: what every
OpenAI-compatible chat server this package is tested against (vLLM, llama.cpp,
LiteLLM) supports: text in and out, tools, ``tool_choice`` and ``json_schema``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from langchain_core.language_models import ModelProfile

__all__ = [
    "GENERIC_PROFILE",
    "KNOWN_MODELS",
    "ModelFacts",
    "ReasoningForm",
    "ReasoningSwitch",
    "facts_for",
    "profile_for",
    "reasoning_form_for",
]

ReasoningForm = Literal["think_tags", "none"]
"""Whether a model thinks in ``<think>`` tags whose opening its chat template sends."""

ReasoningSwitch = Literal["enable_thinking", "thinking", "reasoning_effort", "always", "never"]
"""How thinking is turned on and off on the wire: ``chat_template_kwargs.enable_thinking``
(Qwen3 and others), ``chat_template_kwargs.thinking`` (DeepSeek-V3.1), the
``reasoning_effort`` field (gpt-oss); ``"always"``: it always thinks and cannot be
switched off (DeepSeek-R1, QwQ); ``"never"``: it does not think."""


@dataclass(frozen=True)
class ModelFacts:
    """What is known about one model.

    New facts (a capability, a request-side quirk) are new fields with a default, so
    adding one never reshapes the entries that do not need it.

    Attributes:
        profile: LangChain's ``ModelProfile``: what the model takes and gives.
        reasoning_form: Whether it thinks in ``<think>`` tags whose opening its chat
            template sends (so the reply may start inside reasoning).
        reasoning_switch: How its thinking is switched, or ``None`` when unknown.
    """

    profile: ModelProfile
    reasoning_form: ReasoningForm = "none"
    reasoning_switch: ReasoningSwitch | None = "never"


GENERIC_PROFILE: ModelProfile = {
    "text_inputs": True,
    "text_outputs": True,
    "tool_calling": True,
    "tool_choice": True,
    "structured_output": True,
}

_TEXT: ModelProfile = {
    **GENERIC_PROFILE,
    "image_inputs": False,
    "reasoning_output": False,
}
_NO_TOOLS: ModelProfile = {"tool_calling": False, "tool_choice": False}
_128K = 131072
_32K = 32768


def _text(context: int) -> ModelFacts:
    return ModelFacts({**_TEXT, "max_input_tokens": context})


def _thinker(context: int, *, tools: bool, **limits: int) -> ModelFacts:
    profile: ModelProfile = {**_TEXT, "reasoning_output": True, "max_input_tokens": context}
    profile.update(limits)  # type: ignore[typeddict-item]
    if not tools:
        profile.update(_NO_TOOLS)
    return ModelFacts(profile, "think_tags", "always")


KNOWN_MODELS: dict[str, ModelFacts] = {
    "meta-llama/Llama-3.3-70B-Instruct": _text(_128K),
    "meta-llama/Llama-3.1-8B-Instruct": _text(_128K),
    "Qwen/Qwen2.5-Coder-32B-Instruct": _text(_32K),
    "deepseek-ai/DeepSeek-V3-0324": _text(_128K),
    "Qwen/Qwen2.5-VL-7B-Instruct": ModelFacts(
        {**_TEXT, "max_input_tokens": _32K, "image_inputs": True, "image_url_inputs": True}
    ),
    "deepseek-ai/DeepSeek-R1": _thinker(_128K, tools=False),
    "deepseek-ai/DeepSeek-R1-0528": _thinker(_128K, tools=True),
    "deepseek-ai/DeepSeek-R1-Distill-Llama-70B": _thinker(
        32768, tools=False, max_output_tokens=10000
    ),
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B": _thinker(_128K, tools=False),
    "Qwen/QwQ-32B": _thinker(_128K, tools=True),
}

# Families whose chat templates open a <think> block and cannot be told not to: a new
# release of one of them is a tag thinker even before it is listed above.
_ALWAYS_THINKS = re.compile(r"deepseek-r1|qwq", re.IGNORECASE)
# Qwen3's hybrid releases think unless chat_template_kwargs.enable_thinking is false;
# its instruct-only, embedding and reranking releases do not think.
_QWEN3_HYBRID = re.compile(r"qwen3(?!.*(?:instruct|embed|rerank))", re.IGNORECASE)
# DeepSeek-V3.1 and later V3 releases: chat_template_kwargs.thinking turns it on.
_DEEPSEEK_HYBRID = re.compile(r"deepseek-v3\.[1-9]", re.IGNORECASE)
_GPT_OSS = re.compile(r"gpt-oss", re.IGNORECASE)

_REASONER: ModelProfile = {**GENERIC_PROFILE, "reasoning_output": True}
_FAMILIES: tuple[tuple[re.Pattern[str], ModelFacts], ...] = (
    (_ALWAYS_THINKS, ModelFacts(_REASONER, "think_tags", "always")),
    (_QWEN3_HYBRID, ModelFacts(_REASONER, "think_tags", "enable_thinking")),
    (_DEEPSEEK_HYBRID, ModelFacts(_REASONER, "none", "thinking")),
    (_GPT_OSS, ModelFacts(_REASONER, "none", "reasoning_effort")),
)
_UNKNOWN = ModelFacts(GENERIC_PROFILE, "none", None)


@lru_cache(maxsize=256)  # asked on every call; the answer never changes
def facts_for(model: str) -> ModelFacts:
    """What is known about ``model``: its entry, its family's facts, or the generic ones."""
    known = KNOWN_MODELS.get(model)
    if known is not None:
        return known
    for family, facts in _FAMILIES:
        if family.search(model):
            return facts
    return _UNKNOWN


def profile_for(model: str) -> ModelProfile:
    """The profile of ``model`` (a fresh copy): known, its family's, or the generic one."""
    return dict(facts_for(model).profile)  # type: ignore[return-value]


def reasoning_form_for(model: str) -> ReasoningForm:
    """Whether ``model`` thinks in tags the server may leave in ``content``."""
    return facts_for(model).reasoning_form
