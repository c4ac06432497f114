"""What each Nebula chat model can do, and how its reasoning arrives. Pure data.

Only facts that are known are stated; a key that is absent means "unknown", and a
``False`` means "no". Context sizes are Nebula's served limits where Nebula has
published them (DeepSeek-R1-Distill-Llama-70B), and otherwise the context window the
model's publisher states on its model card: a deployment may serve less, and the live
catalog (``langchain_nebula.catalog.list_models``) says what it actually serves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from langchain_core.language_models import ModelProfile

__all__ = [
    "KNOWN_MODELS",
    "ModelFacts",
    "ReasoningForm",
    "facts_for",
    "profile_for",
    "reasoning_form_for",
]

ReasoningForm = Literal["think_tags", "none"]
"""Whether a model thinks in ``<think>`` tags whose opening its chat template sends."""


@dataclass(frozen=True)
class ModelFacts:
    """What is known about one model.

    New facts (a capability, a request-side quirk) are new fields with a default, so
    adding one never reshapes the entries that do not need it.

    Attributes:
        profile: LangChain's ``ModelProfile``: what the model takes and gives.
        reasoning_form: Whether it thinks in ``<think>`` tags whose opening its chat
            template sends (so the reply may start inside reasoning).
    """

    profile: ModelProfile
    reasoning_form: ReasoningForm = "none"


_TEXT: ModelProfile = {
    "text_inputs": True,
    "text_outputs": True,
    "image_inputs": False,
    "reasoning_output": False,
}
_THINKER: ModelProfile = {**_TEXT, "reasoning_output": True}
_128K = 131072
_32K = 32768


def _text(context: int) -> ModelFacts:
    return ModelFacts({**_TEXT, "max_input_tokens": context})


def _thinker(context: int, **limits: int) -> ModelFacts:
    return ModelFacts({**_THINKER, "max_input_tokens": context, **limits}, "think_tags")  # type: ignore[typeddict-item]


KNOWN_MODELS: dict[str, ModelFacts] = {
    "meta-llama/Llama-3.3-70B-Instruct": _text(_128K),
    "meta-llama/Llama-3.1-8B-Instruct": _text(_128K),
    "Qwen/Qwen2.5-Coder-32B-Instruct": _text(_32K),
    "deepseek-ai/DeepSeek-V3-0324": _text(_128K),
    "Qwen/Qwen2.5-VL-7B-Instruct": ModelFacts(
        {**_TEXT, "max_input_tokens": _32K, "image_inputs": True, "image_url_inputs": True}
    ),
    "deepseek-ai/DeepSeek-R1": _thinker(_128K),
    "deepseek-ai/DeepSeek-R1-0528": _thinker(_128K),
    "deepseek-ai/DeepSeek-R1-Distill-Llama-70B": _thinker(32768, max_output_tokens=10000),
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B": _thinker(_128K),
    "Qwen/QwQ-32B": _thinker(_128K),
}

# Families whose chat templates open a <think> block: a new release of one of them is
# a tag thinker even before it is listed above. Qwen3's instruct-only releases and its
# embedding and reranking models do not think.
_TAG_FAMILIES = re.compile(r"deepseek-r1|qwq|qwen3(?!.*(?:instruct|embed|rerank))", re.IGNORECASE)


_TAG_THINKER = ModelFacts(
    {"text_inputs": True, "text_outputs": True, "reasoning_output": True}, "think_tags"
)


@lru_cache(maxsize=256)  # asked on every call; the answer never changes
def facts_for(model: str) -> ModelFacts | None:
    """What is known about ``model``: its entry, its family's facts, or ``None``."""
    known = KNOWN_MODELS.get(model)
    if known is not None:
        return known
    return _TAG_THINKER if _TAG_FAMILIES.search(model) else None


def profile_for(model: str) -> ModelProfile | None:
    """The known profile of ``model`` (a fresh copy), or ``None`` when nothing is known."""
    facts = facts_for(model)
    return None if facts is None else dict(facts.profile)  # type: ignore[return-value]


def reasoning_form_for(model: str) -> ReasoningForm:
    """Whether ``model`` thinks in tags the server may leave in ``content``."""
    facts = facts_for(model)
    return "none" if facts is None else facts.reasoning_form
