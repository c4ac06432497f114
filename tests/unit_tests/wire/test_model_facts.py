"""What each model can do, exactly: known entries, families, profiles, reasoning forms."""

from __future__ import annotations

import pytest

from langchain_nebula._wire import model_facts
from langchain_nebula._wire.model_facts import (
    GENERIC_PROFILE,
    KNOWN_MODELS,
    ModelFacts,
    facts_for,
    profile_for,
    reasoning_form_for,
)

TEXT = {
    "text_inputs": True,
    "text_outputs": True,
    "image_inputs": False,
    "tool_calling": True,
    "tool_choice": True,
    "structured_output": True,
}
NO_TOOLS = {"tool_calling": False, "tool_choice": False}


def test_a_text_model_is_known_with_its_context() -> None:
    assert facts_for("meta-llama/Llama-3.3-70B-Instruct") == ModelFacts(
        {**TEXT, "reasoning_output": False, "max_input_tokens": 131072}, "none", "never"
    )


def test_the_vision_model_takes_images_and_image_urls() -> None:
    assert profile_for("Qwen/Qwen2.5-VL-7B-Instruct") == {
        **TEXT,
        "image_inputs": True,
        "image_url_inputs": True,
        "reasoning_output": False,
        "max_input_tokens": 32768,
    }


def test_a_known_thinker_reasons_in_tags_with_its_limits() -> None:
    facts = facts_for("deepseek-ai/DeepSeek-R1-Distill-Llama-70B")
    assert facts == ModelFacts(
        {
            **TEXT,
            **NO_TOOLS,
            "reasoning_output": True,
            "max_input_tokens": 32768,
            "max_output_tokens": 10000,
        },
        "think_tags",
        "always",
    )


@pytest.mark.parametrize(
    ("model", "context"),
    [
        ("meta-llama/Llama-3.1-8B-Instruct", 131072),
        ("Qwen/Qwen2.5-Coder-32B-Instruct", 32768),
        ("deepseek-ai/DeepSeek-V3-0324", 131072),
        ("deepseek-ai/DeepSeek-R1", 131072),
        ("deepseek-ai/DeepSeek-R1-0528", 131072),
        ("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", 131072),
        ("Qwen/QwQ-32B", 131072),
    ],
)
def test_each_known_models_context(model: str, context: int) -> None:
    assert profile_for(model)["max_input_tokens"] == context  # type: ignore[index]


def test_the_known_models_are_these() -> None:
    assert len(KNOWN_MODELS) == 10
    thinkers = {m for m, f in KNOWN_MODELS.items() if f.reasoning_form == "think_tags"}
    assert thinkers == {
        "deepseek-ai/DeepSeek-R1",
        "deepseek-ai/DeepSeek-R1-0528",
        "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
        "Qwen/QwQ-32B",
    }
    assert all(f.profile["reasoning_output"] is (m in thinkers) for m, f in KNOWN_MODELS.items())


REASONER = {**GENERIC_PROFILE, "reasoning_output": True}


@pytest.mark.parametrize(
    ("model", "facts"),
    [
        ("deepseek-ai/DeepSeek-R1-Next", ModelFacts(REASONER, "think_tags", "always")),
        ("DEEPSEEK-R1-lite", ModelFacts(REASONER, "think_tags", "always")),
        ("someone/qwq-7b", ModelFacts(REASONER, "think_tags", "always")),
        ("Qwen/Qwen3-32B", ModelFacts(REASONER, "think_tags", "enable_thinking")),
        ("Qwen/Qwen3-235B-A22B-Thinking", ModelFacts(REASONER, "think_tags", "enable_thinking")),
        ("qwen3", ModelFacts(REASONER, "think_tags", "enable_thinking")),
        ("deepseek-ai/DeepSeek-V3.1", ModelFacts(REASONER, "none", "thinking")),
        ("openai/gpt-oss-120b", ModelFacts(REASONER, "none", "reasoning_effort")),
    ],
)
def test_an_unlisted_member_of_a_reasoning_family_gets_its_familys_facts(
    model: str, facts: ModelFacts
) -> None:
    assert facts_for(model) == facts
    assert reasoning_form_for(model) == facts.reasoning_form


@pytest.mark.parametrize(
    "model",
    [
        "Qwen/Qwen3-235B-A22B-Instruct-2507",
        "Qwen/Qwen3-Embedding-8B",
        "Qwen/Qwen3-Reranker-4B",
        "qwen3-instruct",
        "Qwen/Qwen2.5-72B-Instruct",
        "deepseek-ai/DeepSeek-V3-0324-next",
        "some/unknown-model",
        "",
    ],
)
def test_an_unknown_model_gets_the_generic_facts(model: str) -> None:
    assert facts_for(model) == ModelFacts(GENERIC_PROFILE, "none", None)
    assert profile_for(model) == GENERIC_PROFILE
    assert profile_for(model) is not GENERIC_PROFILE
    assert reasoning_form_for(model) == "none"


def test_the_generic_profile_is_what_any_openai_compatible_server_supports() -> None:
    assert GENERIC_PROFILE == {
        "text_inputs": True,
        "text_outputs": True,
        "tool_calling": True,
        "tool_choice": True,
        "structured_output": True,
    }


def test_a_text_model_does_not_reason_in_tags() -> None:
    assert reasoning_form_for("meta-llama/Llama-3.3-70B-Instruct") == "none"
    assert reasoning_form_for("Qwen/QwQ-32B") == "think_tags"


def test_a_profile_is_a_fresh_copy() -> None:
    profile = profile_for("Qwen/QwQ-32B")
    assert profile is not None
    profile["max_input_tokens"] = 1
    assert profile_for("Qwen/QwQ-32B")["max_input_tokens"] == 131072  # type: ignore[index]
    assert type(profile) is dict


def test_facts_are_frozen() -> None:
    facts = facts_for("Qwen/QwQ-32B")
    with pytest.raises(AttributeError):
        facts.reasoning_form = "none"  # type: ignore[misc,union-attr]
    assert ModelFacts({}).reasoning_form == "none"
    assert ModelFacts({}).reasoning_switch == "never"


# -- the entries' builders (the table is built at import; these pin how) --------------


def test_a_text_entry_states_its_context_and_no_images_or_reasoning() -> None:
    assert model_facts._text(5) == ModelFacts(
        {**TEXT, "reasoning_output": False, "max_input_tokens": 5}, "none", "never"
    )


def test_a_thinker_entry_reasons_in_tags_within_its_limits() -> None:
    assert model_facts._thinker(7, tools=True) == ModelFacts(
        {**TEXT, "reasoning_output": True, "max_input_tokens": 7}, "think_tags", "always"
    )
    assert model_facts._thinker(7, tools=False, max_output_tokens=3) == ModelFacts(
        {
            **TEXT,
            **NO_TOOLS,
            "reasoning_output": True,
            "max_input_tokens": 7,
            "max_output_tokens": 3,
        },
        "think_tags",
        "always",
    )
