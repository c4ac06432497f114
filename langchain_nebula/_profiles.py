"""What each Nebula chat model can do, and how its reasoning arrives.

Only facts that are known are stated; a key that is absent means "unknown", and a
``False`` means "no". Context sizes are Nebula's served limits where Nebula has
published them (DeepSeek-R1-Distill-Llama-70B), and otherwise the context window the
model's publisher states on its model card: a deployment may serve less, and the live
catalog (``langchain_nebula.catalog.list_models``) says what it actually serves.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from langchain_core.language_models import ModelProfile

__all__ = ["KNOWN_MODELS", "ReasoningForm", "profile_for", "reasoning_form_for"]

ReasoningForm = Literal["think_tags", "none"]
"""Whether a model thinks in ``<think>`` tags whose opening its chat template sends."""

_TEXT: ModelProfile = {
    "text_inputs": True,
    "text_outputs": True,
    "image_inputs": False,
    "reasoning_output": False,
}
_THINKER: ModelProfile = {**_TEXT, "reasoning_output": True}
_128K = 131072
_32K = 32768

KNOWN_MODELS: dict[str, tuple[ModelProfile, ReasoningForm]] = {
    "meta-llama/Llama-3.3-70B-Instruct": ({**_TEXT, "max_input_tokens": _128K}, "none"),
    "meta-llama/Llama-3.1-8B-Instruct": ({**_TEXT, "max_input_tokens": _128K}, "none"),
    "Qwen/Qwen2.5-Coder-32B-Instruct": ({**_TEXT, "max_input_tokens": _32K}, "none"),
    "deepseek-ai/DeepSeek-V3-0324": ({**_TEXT, "max_input_tokens": _128K}, "none"),
    "Qwen/Qwen2.5-VL-7B-Instruct": (
        {**_TEXT, "max_input_tokens": _32K, "image_inputs": True, "image_url_inputs": True},
        "none",
    ),
    "deepseek-ai/DeepSeek-R1": ({**_THINKER, "max_input_tokens": _128K}, "think_tags"),
    "deepseek-ai/DeepSeek-R1-0528": ({**_THINKER, "max_input_tokens": _128K}, "think_tags"),
    "deepseek-ai/DeepSeek-R1-Distill-Llama-70B": (
        {**_THINKER, "max_input_tokens": 32768, "max_output_tokens": 10000},
        "think_tags",
    ),
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B": (
        {**_THINKER, "max_input_tokens": _128K},
        "think_tags",
    ),
    "Qwen/QwQ-32B": ({**_THINKER, "max_input_tokens": _128K}, "think_tags"),
}

# Families whose chat templates open a <think> block: a new release of one of them is
# a tag thinker even before it is listed above. Qwen3's instruct-only releases and its
# embedding and reranking models do not think.
_TAG_FAMILIES = re.compile(r"deepseek-r1|qwq|qwen3(?!.*(?:instruct|embed|rerank))", re.IGNORECASE)


def profile_for(model: str) -> ModelProfile | None:
    """The known profile of ``model``, or ``None`` when nothing is known about it."""
    known = KNOWN_MODELS.get(model)
    if known is not None:
        return dict(known[0])  # type: ignore[return-value]
    if _TAG_FAMILIES.search(model):
        return {"text_inputs": True, "text_outputs": True, "reasoning_output": True}
    return None


@lru_cache(maxsize=256)  # asked on every call; the answer never changes
def reasoning_form_for(model: str) -> ReasoningForm:
    """Whether ``model`` thinks in tags the server may leave in ``content``."""
    known = KNOWN_MODELS.get(model)
    if known is not None:
        return known[1]
    return "think_tags" if _TAG_FAMILIES.search(model) else "none"
