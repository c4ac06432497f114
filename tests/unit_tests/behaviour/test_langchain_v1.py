"""LangChain v1 agents and ChatOpenAI habits: capabilities, the reasoning switch,
refusals, response formats and the settings ChatOpenAI users bring, pinned by the exact
bodies a scripted server receives."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.exceptions import OutputParserException
from langchain_core.load import dumpd, dumps
from langchain_core.messages import AIMessage, AIMessageChunk
from pydantic import BaseModel
from typing_extensions import TypedDict

from langchain_nebula import ChatNebula, NebulaEmbeddings, NebulaRefusalError
from tests.scripted_server import ScriptedServer, chunk, completion, sse

Make = Callable[..., ChatNebula]
KEY = "sk-0123456789abcdef-openai-habit"


class City(BaseModel):
    """A city."""

    name: str
    country: str


class CityDict(TypedDict):
    name: str
    country: str


CITY_JSON = '{"name": "Montreal", "country": "Canada"}'


def sent(server: ScriptedServer, index: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = server.requests[index].json
    return body


# -- capabilities in every profile -----------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        "meta-llama/Llama-3.3-70B-Instruct",
        "Qwen/Qwen2.5-VL-7B-Instruct",
        "deepseek-ai/DeepSeek-R1-0528",
        "vendor/unknown",
    ],
)
def test_profiles_say_tools_tool_choice_and_structured_output(model: str) -> None:
    profile = ChatNebula(model=model, api_key=None).profile or {}
    assert profile["tool_calling"] is True
    assert profile["tool_choice"] is True
    assert profile["structured_output"] is True


def test_a_model_without_tool_support_says_so() -> None:
    profile = ChatNebula(model="deepseek-ai/DeepSeek-R1", api_key=None).profile or {}
    assert profile["tool_calling"] is False
    assert profile["structured_output"] is True
    assert profile["reasoning_output"] is True


@pytest.mark.parametrize(
    ("model", "reasons"),
    [("Qwen/Qwen3-32B", True), ("openai/gpt-oss-120b", True), ("deepseek-ai/DeepSeek-V3.1", True)],
)
def test_family_profiles_say_which_models_reason(model: str, reasons: bool) -> None:
    assert (ChatNebula(model=model, api_key=None).profile or {})["reasoning_output"] is reasons


def test_profile_given_overrides() -> None:
    model = ChatNebula(model="vendor/unknown", api_key=None, profile={"max_input_tokens": 4096})
    assert model.profile == {"max_input_tokens": 4096}


# -- the reasoning switch --------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "switch", "fields"),
    [
        ("Qwen/Qwen3-32B", False, {"chat_template_kwargs": {"enable_thinking": False}}),
        ("Qwen/Qwen3-32B", True, {"chat_template_kwargs": {"enable_thinking": True}}),
        ("deepseek-ai/DeepSeek-V3.1", True, {"chat_template_kwargs": {"thinking": True}}),
        ("deepseek-ai/DeepSeek-V3.1", False, {"chat_template_kwargs": {"thinking": False}}),
        ("openai/gpt-oss-20b", "high", {"reasoning_effort": "high"}),
        ("openai/gpt-oss-20b", True, {}),
        ("vendor/unknown", "low", {"reasoning_effort": "low"}),
        ("vendor/unknown", False, {"chat_template_kwargs": {"enable_thinking": False}}),
        ("deepseek-ai/DeepSeek-R1", True, {}),
        ("meta-llama/Llama-3.3-70B-Instruct", False, {}),
    ],
)
def test_the_reasoning_switch_on_the_wire(
    server: ScriptedServer, make_model: Make, model: str, switch: Any, fields: dict[str, Any]
) -> None:
    server.reply_json(completion())
    make_model(model=model, reasoning=switch).invoke("Hi")
    body = sent(server)
    got = {k: body[k] for k in ("chat_template_kwargs", "reasoning_effort") if k in body}
    assert got == fields


def test_reasoning_effort_is_the_openai_named_alias_and_works_per_call(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(completion())
    server.reply_json(completion())
    model = make_model(model="openai/gpt-oss-20b", reasoning_effort="low")
    assert model.reasoning == "low"
    model.invoke("Hi")
    model.invoke("Hi", reasoning_effort="high")
    assert sent(server, 0)["reasoning_effort"] == "low"
    assert sent(server, 1)["reasoning_effort"] == "high"
    assert "reasoning" not in sent(server, 1)


def test_the_switch_merges_with_your_own_template_kwargs(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(completion())
    model = make_model(
        model="Qwen/Qwen3-32B",
        reasoning=False,
        model_kwargs={"chat_template_kwargs": {"custom": 1}},
    )
    model.invoke("Hi")
    assert sent(server)["chat_template_kwargs"] == {"custom": 1, "enable_thinking": False}


@pytest.mark.parametrize(
    ("model", "switch", "complaint"),
    [
        ("deepseek-ai/DeepSeek-R1", False, "always reasons and cannot be switched off"),
        ("meta-llama/Llama-3.3-70B-Instruct", True, "does not reason"),
        ("openai/gpt-oss-20b", False, "cannot turn reasoning off"),
        ("vendor/unknown", "extreme", "reasoning must be True, False"),
    ],
)
def test_a_switch_the_model_cannot_honour_fails_before_sending(
    server: ScriptedServer, make_model: Make, model: str, switch: Any, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        make_model(model=model).invoke("Hi", reasoning=switch)
    assert server.requests == []


def test_a_level_to_a_model_without_levels_warns(server: ScriptedServer, make_model: Make) -> None:
    server.reply_json(completion())
    with pytest.warns(UserWarning, match="has no reasoning levels"):
        make_model(model="Qwen/Qwen3-32B", reasoning="high").invoke("Hi")
    assert sent(server)["chat_template_kwargs"] == {"enable_thinking": True}


def test_thinking_off_is_not_held_back_as_reasoning(
    server: ScriptedServer, make_model: Make
) -> None:
    # Qwen3 is read for a </think> without its opening tag; with thinking off it is not.
    server.reply_json(completion("Plain answer </think> with a stray tag"))
    reply = make_model(model="Qwen/Qwen3-32B", reasoning=False).invoke("Hi")
    assert reply.content == "Plain answer </think> with a stray tag"
    assert "reasoning_content" not in reply.additional_kwargs


# -- refusals ---------------------------------------------------------------------------


def test_a_refusal_is_a_standard_content_block(server: ScriptedServer, make_model: Make) -> None:
    server.reply_json(completion(None, refusal="I can't help with that."))
    reply = make_model().invoke("Hi")
    assert {
        "type": "non_standard",
        "value": {"type": "refusal", "refusal": "I can't help with that."},
    } in reply.content_blocks


def test_reasoning_text_and_tool_calls_are_content_blocks() -> None:
    message = AIMessage(
        "answer",
        additional_kwargs={"reasoning_content": "think"},
        tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1"}],
        response_metadata={"model_provider": "nebula"},
    )
    assert message.content_blocks == [
        {"type": "reasoning", "reasoning": "think"},
        {"type": "text", "text": "answer"},
        {"type": "tool_call", "id": "c1", "name": "f", "args": {"a": 1}},
    ]
    chunk_message = AIMessageChunk(
        "",
        tool_call_chunks=[{"name": "f", "args": "{", "id": "c1", "index": 0}],
        response_metadata={"model_provider": "nebula"},
    )
    assert chunk_message.content_blocks == [
        {"type": "tool_call_chunk", "id": "c1", "name": "f", "args": "{", "index": 0}
    ]


@pytest.mark.parametrize("method", ["json_schema", "function_calling", "json_mode"])
def test_structured_output_raises_the_refusal(
    server: ScriptedServer, make_model: Make, method: str
) -> None:
    server.reply_json(completion(None, refusal="No."))
    with pytest.raises(NebulaRefusalError, match=r"refused to answer: No\.") as info:
        make_model().with_structured_output(City, method=method).invoke("Where?")  # type: ignore[arg-type]
    assert info.value.refusal == "No."
    assert isinstance(info.value, OutputParserException)


def test_a_streamed_refusal_raises_after_every_chunk(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_stream(
        sse(
            chunk({"role": "assistant", "refusal": "No"}),
            chunk({"refusal": "pe."}, finish_reason="stop"),
        )
    )
    model = make_model().bind(response_format={"type": "json_object"})
    seen = []
    with pytest.raises(NebulaRefusalError, match=r"Nope\."):
        seen.extend(model.stream("Hi"))
    assert "".join(c.additional_kwargs.get("refusal", "") for c in seen) == "Nope."


# -- response_format at bind and invoke time --------------------------------------------


@pytest.mark.parametrize("schema", [City, CityDict])
def test_response_format_class_is_sent_as_json_schema_and_parsed(
    server: ScriptedServer, make_model: Make, schema: type
) -> None:
    server.reply_json(completion(CITY_JSON))
    reply = make_model().invoke("Where?", response_format=schema)
    form = sent(server)["response_format"]
    assert form["type"] == "json_schema"
    assert form["json_schema"]["name"] == schema.__name__
    assert set(form["json_schema"]["schema"]["properties"]) == {"name", "country"}
    expected = (
        City(name="Montreal", country="Canada")
        if schema is City
        else {"name": "Montreal", "country": "Canada"}
    )
    assert reply.additional_kwargs["parsed"] == expected


def test_a_dict_response_format_is_sent_as_given(server: ScriptedServer, make_model: Make) -> None:
    server.reply_json(completion(CITY_JSON))
    form = {"type": "json_object"}
    reply = make_model().bind(response_format=form).invoke("Where?")
    assert sent(server)["response_format"] == form
    assert "parsed" not in reply.additional_kwargs


def test_a_native_structured_reply_cut_at_the_limit_says_so(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(completion('{"name": "Mon', finish_reason="length"))
    with pytest.raises(OutputParserException, match="cut off at the token limit"):
        make_model().invoke("Where?", response_format=City)


def test_a_cut_reply_that_calls_tools_is_left_to_the_agent(
    server: ScriptedServer, make_model: Make
) -> None:
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    server.reply_json(completion(None, finish_reason="length", tool_calls=calls))
    reply = make_model().bind(response_format={"type": "json_object"}).invoke("Hi")
    assert reply.tool_calls[0]["name"] == "f"


def test_with_structured_output_takes_tools(server: ScriptedServer, make_model: Make) -> None:
    def lookup(city: str) -> str:
        """Look a city up."""
        return city

    server.reply_json(completion(CITY_JSON))
    result = make_model().with_structured_output(City, tools=[lookup]).invoke("Where?")
    body = sent(server)
    assert result == City(name="Montreal", country="Canada")
    assert [t["function"]["name"] for t in body["tools"]] == ["lookup"]
    assert body["response_format"]["json_schema"]["name"] == "City"


def test_with_tools_a_tool_call_parses_to_none(server: ScriptedServer, make_model: Make) -> None:
    def lookup(city: str) -> str:
        """Look a city up."""
        return city

    calls = [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"city": "x"}'},
        }
    ]
    server.reply_json(completion(None, finish_reason="tool_calls", tool_calls=calls))
    out = make_model().with_structured_output(City, tools=[lookup], include_raw=True).invoke("?")
    assert out["parsed"] is None
    assert out["raw"].tool_calls[0]["name"] == "lookup"


def test_tools_with_function_calling_are_refused(make_model: Make) -> None:
    with pytest.raises(ValueError, match=r"tools=\[\.\.\.\] combine with method='json_schema'"):
        make_model().with_structured_output(City, method="function_calling", tools=[City])


# -- what ChatOpenAI users bring --------------------------------------------------------


def test_openai_names_for_shared_settings_are_aliases(server: ScriptedServer) -> None:
    server.reply_json(completion())
    model = ChatNebula(
        openai_api_key=KEY,
        openai_api_base=server.base_url,
        request_timeout=30,
        max_completion_tokens=7,
        max_retries=0,
    )
    model.invoke("Hi")
    body = sent(server)
    assert body["max_tokens"] == 7
    assert "openai_api_key" not in body
    assert "max_completion_tokens" not in body
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(model)
    assert KEY not in dumps(model)
    assert model._get_ls_params()["ls_max_tokens"] == 7


def test_max_completion_tokens_per_call(server: ScriptedServer, make_model: Make) -> None:
    server.reply_json(completion())
    model = make_model()
    model.invoke("Hi", max_completion_tokens=5)
    assert sent(server)["max_tokens"] == 5
    assert "max_completion_tokens" not in sent(server)
    assert model._get_ls_params(max_completion_tokens=5)["ls_max_tokens"] == 5


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("openai_organization", "no organizations"),
        ("openai_proxy", "http_client=httpx.Client"),
        ("use_responses_api", "Chat Completions API only"),
    ],
)
def test_chatopenai_only_settings_are_refused_with_a_hint(name: str, hint: str) -> None:
    with pytest.raises(ValueError, match=f"does not take '{name}': .*{hint}"):
        ChatNebula(api_key=None, **{name: "x"})


def test_disabled_params_are_never_sent(server: ScriptedServer, make_model: Make) -> None:
    server.reply_json(completion())
    server.reply_json(completion())
    model = make_model(
        disabled_params={"parallel_tool_calls": None, "tool_choice": ["required"]},
        temperature=0.5,
    )

    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    def sub(a: int, b: int) -> int:
        """Subtract."""
        return a - b

    model.bind_tools([add, sub], tool_choice="required", parallel_tool_calls=True).invoke("Hi")
    model.bind_tools([add, sub], tool_choice="auto").invoke("Hi")
    first, second = sent(server, 0), sent(server, 1)
    assert "parallel_tool_calls" not in first
    assert "tool_choice" not in first
    assert second["tool_choice"] == "auto"
    assert "disabled_params" not in first
    assert first["temperature"] == 0.5


@pytest.mark.parametrize("kind", ["web_search", "code_interpreter", "file_search"])
def test_built_in_tool_dicts_are_refused_naming_the_type(make_model: Make, kind: str) -> None:
    with pytest.raises(ValueError, match=f"tools\\[0\\] is a built-in tool of type '{kind}'"):
        make_model().bind_tools([{"type": kind}])


# -- response details -------------------------------------------------------------------


def test_service_tier_stop_reason_and_cache_tokens_are_kept(
    server: ScriptedServer, make_model: Make
) -> None:
    body = completion(
        "Hi",
        usage={
            "prompt_tokens": 10,
            "completion_tokens": 2,
            "total_tokens": 12,
            "prompt_tokens_details": {"cached_tokens": 4},
            "cache_creation_input_tokens": 3,
        },
    )
    body["service_tier"] = "default"
    body["choices"][0]["stop_reason"] = "###"
    server.reply_json(body)
    reply = make_model().invoke("Hi")
    assert reply.response_metadata["service_tier"] == "default"
    assert reply.response_metadata["stop_reason"] == "###"
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_token_details"] == {"cache_read": 4, "cache_creation": 3}


def test_stream_reports_stop_reason_as_invoke_does(
    server: ScriptedServer, make_model: Make
) -> None:
    last = chunk({}, finish_reason="stop")
    last["choices"][0]["stop_reason"] = 128001
    server.reply_stream(sse(chunk({"role": "assistant", "content": "Hi"}), last))
    total = None
    for piece in make_model().stream("Hi"):
        total = piece if total is None else total + piece
    assert total is not None
    assert total.response_metadata["stop_reason"] == 128001


def test_nested_usage_details_are_summed_across_generations(make_model: Make) -> None:
    outputs = [
        {"token_usage": {"prompt_tokens": 3, "prompt_tokens_details": {"cached_tokens": 1}}},
        {"token_usage": {"prompt_tokens": 4, "prompt_tokens_details": {"cached_tokens": 2}}},
    ]
    combined = make_model()._combine_llm_outputs(outputs)
    assert combined["token_usage"] == {
        "prompt_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 3},
    }


# -- serialization of the models -------------------------------------------------------


def test_chatnebula_dump_holds_no_key() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dumped = dumpd(ChatNebula(openai_api_key=KEY, base_url="http://127.0.0.1:9/v1"))
    assert KEY not in str(dumped)


def test_embeddings_construct_with_openai_names() -> None:
    model = NebulaEmbeddings(openai_api_key=KEY, openai_api_base="http://127.0.0.1:9/v1")
    assert model.base_url == "http://127.0.0.1:9/v1"
    assert KEY not in repr(model)


def test_the_package_version_is_in_trace_metadata() -> None:
    from langchain_nebula import __version__

    model = ChatNebula(api_key=None, metadata={"team": "search"})
    assert model.metadata == {
        "team": "search",
        "lc_versions": {"langchain-nebulablock": __version__},
    }
