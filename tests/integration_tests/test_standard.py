"""LangChain's standard integration suite, against each target.

- ``TestLocalLlamaCpp``: llama.cpp serving SmolLM2-135M-Instruct on 127.0.0.1; runs in
  ``make test``. Capability flags are what that server really does. Tests a 135M
  model fails for want of quality are marked ``xfail`` with the reason; none is
  skipped to hide a failure of ours.
- ``TestLiteLLMProxy``: the same server behind a real LiteLLM proxy configured to look
  like Nebula (Nebula's model ids, a master key); runs in ``make test`` too
  (``-k litellm`` selects it). Same flags and model-judgement xfails; a failure that is
  ours, not the model's, is an ``xfail(strict=False)`` whose reason starts ``BUG:``.
- ``TestLiveNebula``: the real API; runs only with ``NEBULA_API_KEY`` (``-m live``).
"""

from __future__ import annotations

import os
from functools import reduce
from operator import add
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_tests.integration_tests import ChatModelIntegrationTests

from langchain_nebula import ChatNebula
from tests.integration_tests.conftest import LOCAL_MODEL
from tests.litellm_proxy import MASTER_KEY, TEXT_MODEL, VISION_MODEL

SMALL_MODEL = "a 135M-parameter model"


class _NebulaTarget:
    """What every target shares: the class under test and what it always returns."""

    @property
    def chat_model_class(self) -> type[ChatNebula]:
        return ChatNebula

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def returns_usage_metadata(self) -> bool:
        return True


class _SmolLM2Target(_NebulaTarget):
    """What every target serving SmolLM2-135M from our llama.cpp server shares."""

    @property
    def supported_usage_metadata_details(self) -> dict[str, list[Any]]:
        return {"invoke": ["cache_read_input"], "stream": ["cache_read_input"]}

    # -- tests a 135M model fails for want of judgement, not because of our code ------
    # Each still runs; a pass is reported as XPASS.

    @pytest.mark.xfail(reason=f"{SMALL_MODEL} often answers in text instead of calling the tool")
    async def test_tool_calling_async(self, model: Any) -> None:
        await super().test_tool_calling_async(model)

    @pytest.mark.xfail(reason=f"{SMALL_MODEL} calls the tool in most runs, not in all")
    @pytest.mark.parametrize("model", [{}, {"output_version": "v1"}], indirect=True)
    def test_tool_calling(self, model: Any) -> None:
        super().test_tool_calling(model)

    @pytest.mark.xfail(reason=f"{SMALL_MODEL} often describes a no-argument tool instead")
    def test_tool_calling_with_no_arguments(self, model: Any) -> None:
        super().test_tool_calling_with_no_arguments(model)

    @pytest.mark.xfail(reason=f"{SMALL_MODEL} completes the agent loop in most runs, not in all")
    @pytest.mark.parametrize("model", [{}, {"output_version": "v1"}], indirect=True)
    def test_agent_loop(self, model: Any) -> None:
        super().test_agent_loop(model)

    @pytest.mark.xfail(reason=f"{SMALL_MODEL} calls a runnable-as-tool in most runs, not in all")
    def test_bind_runnables_as_tools(self, model: Any) -> None:
        super().test_bind_runnables_as_tools(model)

    @pytest.mark.xfail(
        reason="this llama.cpp build does not enforce tool_choice 'any' or a named tool "
        f"(it treats both as 'auto'), and {SMALL_MODEL} then chats instead"
    )
    def test_tool_choice(self, model: Any) -> None:
        super().test_tool_choice(model)

    @pytest.mark.xfail(
        reason=f"json_mode constrains output to some JSON object, not the schema; {SMALL_MODEL} "
        "fills in the wrong shape"
    )
    def test_json_mode(self, model: Any) -> None:
        super().test_json_mode(model)

    @pytest.mark.xfail(reason=f"{SMALL_MODEL} rarely calls a tool for a non-English request")
    def test_unicode_tool_call_integration(self, model: Any) -> None:
        super().test_unicode_tool_call_integration(model)

    # Sampled, the 135M model sometimes repeats a phrase inside a JSON string until its
    # context fills (seen in CI: "The cat was a cat, and it was a cat, ..."); the reply is
    # then cut (finish_reason 'length') and refused. test_litellm_proxy.py and
    # test_local_server.py pin structured output with greedy decoding instead.
    _LOOPS = f"{SMALL_MODEL} sometimes loops inside a JSON string until its context fills"

    @pytest.mark.xfail(reason=_LOOPS)
    @pytest.mark.parametrize("schema_type", ["pydantic", "typeddict", "json_schema"])
    def test_structured_output(self, model: Any, schema_type: Any) -> None:
        super().test_structured_output(model, schema_type)

    @pytest.mark.xfail(reason=_LOOPS)
    @pytest.mark.parametrize("schema_type", ["pydantic", "typeddict", "json_schema"])
    async def test_structured_output_async(self, model: Any, schema_type: Any) -> None:
        await super().test_structured_output_async(model, schema_type)

    @pytest.mark.xfail(reason=_LOOPS)
    def test_structured_output_pydantic_2_v1(self, model: Any) -> None:
        super().test_structured_output_pydantic_2_v1(model)

    @pytest.mark.xfail(reason=_LOOPS)
    def test_structured_output_optional_param(self, model: Any) -> None:
        super().test_structured_output_optional_param(model)

    def invoke_with_cache_read_input(self, *, stream: bool = False) -> AIMessage:
        # llama.cpp reuses a slot's KV cache for a repeated prompt prefix and reports
        # it as prompt_tokens_details.cached_tokens.
        model = self.chat_model_class(**{**self.chat_model_params, "max_tokens": 8})
        prompt = "Here is a long, fixed preamble about rivers and lakes. " * 20 + "Summarise."
        model.invoke(prompt)
        if stream:
            return reduce(add, model.stream(prompt))  # type: ignore[return-value]
        return model.invoke(prompt)


class TestLocalLlamaCpp(_SmolLM2Target, ChatModelIntegrationTests):
    @pytest.fixture(autouse=True)
    def _serve(self, local_base_url: str) -> None:
        """Starts (once) the llama.cpp server the model properties point at."""

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {
            "base_url": os.environ["LANGCHAIN_NEBULA_LOCAL_URL"],
            "model": LOCAL_MODEL,
            "api_key": None,
        }

    @property
    def supports_model_override(self) -> bool:
        return False  # llama.cpp serves the one model it loaded, whatever is asked


class TestLiteLLMProxy(_SmolLM2Target, ChatModelIntegrationTests):
    """Through LiteLLM, as Nebula serves: its errors, its stream shapes, its headers."""

    @pytest.fixture(autouse=True)
    def _serve(self, litellm_base_url: str) -> None:
        """Starts (once) the proxy, and the llama.cpp server behind it."""

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {
            "base_url": os.environ["LANGCHAIN_NEBULA_LITELLM_URL"],
            "model": TEXT_MODEL,
            "api_key": MASTER_KEY,
        }

    @property
    def supports_model_override(self) -> bool:
        return True  # each alias is its own model group, echoed back as `model`

    @property
    def model_override_value(self) -> str:
        return VISION_MODEL  # text prompts work on it; it is a different alias


@pytest.mark.live
@pytest.mark.skipif(not os.environ.get("NEBULA_API_KEY"), reason="needs NEBULA_API_KEY")
class TestLiveNebula(_NebulaTarget, ChatModelIntegrationTests):
    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": os.environ.get("NEBULA_MODEL", "meta-llama/Llama-3.3-70B-Instruct")}

    @property
    def model_override_value(self) -> str:
        return "meta-llama/Llama-3.1-8B-Instruct"
