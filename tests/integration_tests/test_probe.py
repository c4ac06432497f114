"""The probe against real servers: llama.cpp serving SmolLM2-135M, and LiteLLM in front.

What each deployment really supports, as the probe finds it: the text server (with the
tool-aware chat template) calls tools in every ``tool_choice`` form and honours
``json_schema`` but takes no images; the vision server takes images, inline and by URL;
LiteLLM passes all of it through and publishes the context limits of its aliases.
"""

from __future__ import annotations

import httpx
import pytest

from langchain_nebula import ChatNebula
from langchain_nebula.local import LocalServer
from langchain_nebula.probe import aprobe_report, probe, probe_report
from tests.images import image_host, png
from tests.integration_tests.conftest import LOCAL_MODEL
from tests.litellm_proxy import MASTER_KEY, REASONING_MODEL, TEXT_MODEL, VISION_MODEL, r1_grammar

TEXT_SERVER_PROFILE = {
    "tool_calling": True,
    "tool_choice": True,
    "structured_output": True,
    "image_inputs": False,
    "reasoning_output": False,
    "max_input_tokens": 8192,  # the server's n_ctx, from its /models
}


def test_the_local_server_reports_its_short_model_id(local_base_url: str) -> None:
    listed = httpx.get(f"{local_base_url}/models").json()["data"]
    assert [entry["id"] for entry in listed] == [LOCAL_MODEL]
    reply = ChatNebula(base_url=local_base_url, model="any-id", api_key=None, max_tokens=2).invoke(
        "Hi"
    )
    assert reply.response_metadata["model_name"] == LOCAL_MODEL


# Seven requests of up to 48 tokens from a 135M model on two shared cores.
@pytest.mark.timeout(360)
def test_llama_cpp_with_the_tool_template_does_tools_and_json_schema_not_images(
    local_base_url: str,
) -> None:
    report = probe_report(LOCAL_MODEL, base_url=local_base_url, api_key=None)

    assert report.profile == TEXT_SERVER_PROFILE
    assert report.tool_choice_forms == ("auto", "required", "named")
    image = next(check for check in report.checks if check.name == "image (data URL)")
    assert not image.accepted
    assert "not supported" in image.detail
    # The cost the docs quote: 7 requests, about 1300 tokens, mostly the tools' prompts.
    assert report.requests == 7
    assert 800 < report.total_tokens < 2000


# Seven requests of up to 48 tokens from a 135M model on two shared cores.
@pytest.mark.timeout(360)
async def test_the_async_probe_finds_the_same_on_llama_cpp(local_base_url: str) -> None:
    report = await aprobe_report(LOCAL_MODEL, base_url=local_base_url, api_key=None)

    assert report.profile == TEXT_SERVER_PROFILE


def test_the_vision_server_takes_images_inline_and_by_url(vision_server: LocalServer) -> None:
    with image_host({"/red.png": ("image/png", png(32, 32))}) as host:
        report = probe_report(
            LOCAL_MODEL,
            base_url=vision_server.base_url,
            api_key=None,
            checks=["image"],
            image_url=f"{host.url}/red.png",
        )

    assert report.profile == {"image_inputs": True, "image_url_inputs": True}
    assert [path for path, _ in host.fetched] == ["/red.png"]


def test_a_thinker_in_tags_is_found_on_llama_cpp(local_base_url: str) -> None:
    # The grammar makes SmolLM2 answer in DeepSeek-R1's shape.
    report = probe_report(
        LOCAL_MODEL,
        base_url=local_base_url,
        api_key=None,
        checks=["reasoning"],
        max_tokens=160,
        model_kwargs={"grammar": r1_grammar(thought=40, answer=20)},
    )

    assert report.profile == {"reasoning_output": True}
    assert report.reasoning_form is not None


# Seven requests of up to 48 tokens from a 135M model on two shared cores.
@pytest.mark.timeout(360)
def test_litellm_passes_tools_and_json_schema_through_and_publishes_the_context(
    litellm_base_url: str,
) -> None:
    report = probe_report(TEXT_MODEL, base_url=litellm_base_url, api_key=MASTER_KEY)

    assert report.profile == {
        "tool_calling": True,
        "tool_choice": True,
        "structured_output": True,
        "image_inputs": False,  # the alias's backend is the text server
        "reasoning_output": False,
        "max_input_tokens": 4096,  # the alias's model_info, not the backend's context
    }
    assert report.catalog_entry is not None
    assert report.catalog_entry.id == TEXT_MODEL
    assert report.requests == 7
    assert 800 < report.total_tokens < 2000
    print(report.describe())  # the figures docs/models.md quotes


def test_litellm_moves_think_tags_into_a_field_and_lists_the_output_cap(
    litellm_base_url: str,
) -> None:
    report = probe_report(
        REASONING_MODEL,
        base_url=litellm_base_url,
        api_key=MASTER_KEY,
        checks=["reasoning", "context"],
        max_tokens=160,
        model_kwargs={"grammar": r1_grammar(thought=40, answer=20)},
    )

    assert report.profile == {
        "reasoning_output": True,
        "max_input_tokens": 32768,
        "max_output_tokens": 10000,
    }
    assert report.reasoning_form == "field"  # LiteLLM moved <think> out of the content


def test_litellm_vision_alias_takes_images(litellm_base_url: str) -> None:
    profile = probe(VISION_MODEL, base_url=litellm_base_url, api_key=MASTER_KEY, checks=["image"])

    assert profile == {"image_inputs": True}


def test_a_wrong_key_at_litellm_is_raised(litellm_base_url: str) -> None:
    from langchain_nebula import NebulaAuthenticationError

    with pytest.raises(NebulaAuthenticationError):
        probe(TEXT_MODEL, base_url=litellm_base_url, api_key="sk-wrong", checks=["tools"])
