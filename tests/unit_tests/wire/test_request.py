"""A chat request's JSON body, exactly: which field goes on the wire, and how reasoning is read.

``chat_request`` is what every invoke and stream sends; these tests decode the bytes it
returns and compare whole bodies, and pin ``reasoning_mode`` for each setting and model.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langchain_nebula._wire.request import (
    CONTROL_KWARGS,
    SAMPLING_FIELDS,
    SERVER_FIELDS,
    chat_request,
    reasoning_mode,
)

MODEL = "meta-llama/Llama-3.3-70B-Instruct"
THINKER = "deepseek-ai/DeepSeek-R1"
HI = [{"role": "user", "content": "Hi"}]


def build(
    kwargs: dict[str, Any] | None = None,
    *,
    defaults: dict[str, Any] | None = None,
    stop: list[str] | None = None,
    stream: bool = False,
    stream_usage: bool = True,
    extra_body: dict[str, Any] | None = None,
    reasoning_in_history: bool = False,
    parser: Any = "auto",
    messages: list[Any] | None = None,
) -> tuple[dict[str, Any], str]:
    request = chat_request(
        {"model": MODEL} if defaults is None else defaults,
        [HumanMessage("Hi")] if messages is None else messages,
        stop,
        kwargs or {},
        stream=stream,
        stream_usage=stream_usage,
        extra_body=extra_body,
        reasoning_in_history=reasoning_in_history,
        reasoning_parser=parser,
    )
    assert isinstance(request.body, bytes)
    return json.loads(request.body), request.mode


def test_the_body_is_the_defaults_and_the_messages() -> None:
    assert build(defaults={"model": MODEL, "temperature": 0.5}) == (
        {"model": MODEL, "temperature": 0.5, "messages": HI},
        "leading_tag",
    )


def test_the_body_is_compact_utf8_json() -> None:
    body = chat_request(
        {"model": "é"},
        [HumanMessage("ü")],
        None,
        {},
        stream=False,
        stream_usage=True,
        extra_body=None,
        reasoning_in_history=False,
        reasoning_parser="auto",
    ).body
    assert body == '{"model":"é","messages":[{"role":"user","content":"ü"}]}'.encode()


def test_call_keywords_override_the_defaults_and_none_is_not_sent() -> None:
    body, _ = build(
        {"temperature": 0.1, "top_p": None, "seed": 3},
        defaults={"model": MODEL, "temperature": 0.5, "top_p": 0.9},
    )
    assert body == {"model": MODEL, "temperature": 0.1, "top_p": 0.9, "seed": 3, "messages": HI}


@pytest.mark.parametrize("keyword", sorted(CONTROL_KWARGS))
def test_control_keywords_never_go_on_the_wire(keyword: str) -> None:
    # A reasoning switch to a model that cannot reason fails; False switches nothing.
    value = not keyword.startswith("reasoning")
    assert build({keyword: value})[0] == {"model": MODEL, "messages": HI}


def test_the_calls_stop_replaces_the_models() -> None:
    body, _ = build(defaults={"model": MODEL, "stop": ["a"]}, stop=["b"])
    assert body["stop"] == ["b"]
    assert build(defaults={"model": MODEL, "stop": ["a"]})[0]["stop"] == ["a"]


def test_an_empty_stop_list_from_the_call_is_sent() -> None:
    assert build(stop=[])[0]["stop"] == []


def test_a_stream_asks_for_usage_by_default() -> None:
    assert build(stream=True)[0] == {
        "model": MODEL,
        "messages": HI,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_a_stream_without_usage_has_no_stream_options() -> None:
    assert build(stream=True, stream_usage=False)[0] == {
        "model": MODEL,
        "messages": HI,
        "stream": True,
    }


@pytest.mark.parametrize(("setting", "call", "asked"), [(True, False, False), (False, True, True)])
def test_the_calls_stream_usage_overrides_the_setting(
    setting: bool, call: bool, asked: bool
) -> None:
    body, _ = build({"stream_usage": call}, stream=True, stream_usage=setting)
    assert ("stream_options" in body) is asked
    assert "stream_usage" not in body


def test_stream_options_given_are_kept() -> None:
    body, _ = build({"stream_options": {"include_usage": False}}, stream=True)
    assert body["stream_options"] == {"include_usage": False}


def test_without_stream_nothing_about_streams_is_sent() -> None:
    body, _ = build({"stream_usage": True}, stream=False)
    assert body == {"model": MODEL, "messages": HI}


def test_extra_body_is_merged_last_over_everything() -> None:
    body, _ = build(
        {"temperature": 0.1},
        stop=["s"],
        stream=True,
        extra_body={"temperature": 0.9, "stop": None, "stream": False, "top_k": 5},
    )
    assert body == {
        "model": MODEL,
        "messages": HI,
        "temperature": 0.9,
        "stop": None,
        "stream": False,
        "stream_options": {"include_usage": True},
        "top_k": 5,
    }


@pytest.mark.parametrize("n", [2, 5])
def test_several_choices_cannot_be_streamed(n: int) -> None:
    with pytest.raises(ValueError, match=r"^n > 1 cannot be streamed; use invoke/generate for"):
        build({"n": n}, stream=True)


@pytest.mark.parametrize("n", [None, 0, 1])
def test_one_choice_can_be_streamed(n: int | None) -> None:
    assert build({"n": n}, stream=True)[0]["stream"] is True


def test_an_n_from_extra_body_is_checked_too() -> None:
    with pytest.raises(ValueError, match="n > 1"):
        build(stream=True, extra_body={"n": 2})


def test_several_choices_can_be_invoked() -> None:
    assert build({"n": 3})[0]["n"] == 3


def test_nan_is_refused_naming_the_field() -> None:
    with pytest.raises(
        ValueError, match=r"^request field temperature is NaN or infinite, which JSON"
    ):
        build({"temperature": float("nan")})


def test_reasoning_goes_back_only_when_asked() -> None:
    history = [
        HumanMessage("Hi"),
        AIMessage("Hello", additional_kwargs={"reasoning_content": "think"}),
    ]
    sent, _ = build(messages=history, reasoning_in_history=True)
    assert sent["messages"][1] == {
        "role": "assistant",
        "content": "Hello",
        "reasoning_content": "think",
    }
    assert build(messages=history)[0]["messages"][1] == {"role": "assistant", "content": "Hello"}


def test_the_field_lists_are_what_the_model_classes_rely_on() -> None:
    assert SAMPLING_FIELDS == (
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
    assert (
        frozenset(
            {"stream", "stream_usage", "reasoning", "reasoning_effort", "nebula_parsed_downstream"}
        )
        == CONTROL_KWARGS
    )
    assert {"top_k", "min_p", "chat_template_kwargs", "response_format"} <= SERVER_FIELDS
    assert not SERVER_FIELDS & set(SAMPLING_FIELDS)


# -- how the answer's reasoning is read ----------------------------------------------------


@pytest.mark.parametrize(
    ("parser", "model", "mode"),
    [
        ("think_tags", MODEL, "tags"),
        ("field", THINKER, "field"),
        ("none", THINKER, "none"),
        ("auto", THINKER, "tags"),
        ("auto", "Qwen/Qwen3-32B", "tags"),
        ("auto", MODEL, "leading_tag"),
        ("auto", "some/unknown-model", "leading_tag"),
    ],
)
def test_each_parser_setting_reads_reasoning_its_way(parser: Any, model: str, mode: str) -> None:
    assert reasoning_mode(parser, {"model": model}) == mode


@pytest.mark.parametrize(
    ("template", "mode"),
    [
        ({"enable_thinking": False}, "leading_tag"),
        ({"enable_thinking": True}, "tags"),
        ({"enable_thinking": 0}, "tags"),
        ({}, "tags"),
        ("enable_thinking=False", "tags"),
        (None, "tags"),
    ],
)
def test_auto_reads_tags_of_a_thinker_unless_thinking_is_switched_off(
    template: Any, mode: str
) -> None:
    assert reasoning_mode("auto", {"model": THINKER, "chat_template_kwargs": template}) == mode


def test_thinking_switched_off_does_not_change_an_explicit_setting() -> None:
    payload = {"model": THINKER, "chat_template_kwargs": {"enable_thinking": False}}
    assert reasoning_mode("think_tags", payload) == "tags"


def test_a_body_without_a_model_is_not_a_thinker() -> None:
    assert reasoning_mode("auto", {}) == "leading_tag"


def test_the_request_reports_the_mode_for_its_own_body() -> None:
    assert build(defaults={"model": THINKER})[1] == "tags"
    assert build(defaults={"model": MODEL}, extra_body={"model": THINKER})[1] == "tags"
    off = {"chat_template_kwargs": {"enable_thinking": False}}
    assert build(off, defaults={"model": THINKER})[1] == "leading_tag"
