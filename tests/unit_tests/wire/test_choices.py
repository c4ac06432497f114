"""One choice's parts, exactly: text, refusal, tool calls, logprobs, usage, metadata.

``_wire.choices`` is what invoke (``completions``) and stream (``chunks``) both read a
choice with; these tests pin each reader on its own.
"""

from __future__ import annotations

from typing import Any

import pytest

from langchain_nebula import NebulaResponseError
from langchain_nebula._wire.choices import (
    MessageText,
    arguments_text,
    map_tool_calls,
    map_usage,
    message_text,
    read_logprobs,
    read_refusal,
    response_metadata,
    token_count,
)


def test_message_text_joins_text_and_refusal_parts_without_separators() -> None:
    read = message_text(
        ["a", {"text": "b"}, {"refusal": "r1"}, {"refusal": "r2"}, {"type": "x"}, 5], "w"
    )
    assert (read.text, read.refusal, read.other_parts) == ("ab", "r1r2", [{"type": "x"}, 5])


@pytest.mark.parametrize(("content", "text"), [("plain", "plain"), (None, ""), ([], "")])
def test_message_text_of_a_string_null_or_empty_list(content: Any, text: str) -> None:
    read = message_text(content, "w")
    assert (read.text, read.refusal, read.other_parts) == (text, "", [])


def test_tool_calls_with_object_arguments_are_parsed() -> None:
    calls, invalid = map_tool_calls(
        [
            {"id": "c1", "function": {"name": "f", "arguments": '{"a": 1}'}},
            {"id": "c2", "function": {"name": "g", "arguments": {"b": 2}}},
            {"id": "c3", "function": {"name": "h", "arguments": " "}},
            {"id": 7, "function": {"name": "i"}},
        ]
    )
    assert calls == [
        {"name": "f", "args": {"a": 1}, "id": "c1", "type": "tool_call"},
        {"name": "g", "args": {"b": 2}, "id": "c2", "type": "tool_call"},
        {"name": "h", "args": {}, "id": "c3", "type": "tool_call"},
        {"name": "i", "args": {}, "id": None, "type": "tool_call"},
    ]
    assert invalid == []


def test_unusable_tool_calls_are_kept_as_invalid_with_the_reason() -> None:
    calls, invalid = map_tool_calls(
        [
            {"id": "c1", "function": {"name": "f", "arguments": "{bad"}},
            "not an object",
            {"id": "c3", "function": "f"},
            {"id": "c4", "function": {"name": 5, "arguments": [1]}},
            {"id": "c5", "function": {"name": "g", "arguments": "[1]"}},
            {"id": "c6", "function": {"name": "h", "arguments": 5}},
            {"id": "c7", "function": {"name": "", "arguments": "{}"}},
        ]
    )
    assert calls == []
    assert invalid == [
        {
            "name": "f",
            "args": "{bad",
            "id": "c1",
            "error": "arguments are not valid JSON: unexpected character, expected a string key: "
            "line 1 column 2 (char 1)",
            "type": "invalid_tool_call",
        },
        {
            "name": None,
            "args": "null",
            "id": None,
            "error": "tool call has no function name",
            "type": "invalid_tool_call",
        },
        {
            "name": None,
            "args": "null",
            "id": "c3",
            "error": "tool call has no function name",
            "type": "invalid_tool_call",
        },
        {
            "name": None,
            "args": "[1]",
            "id": "c4",
            "error": "arguments must be a JSON object, got list",
            "type": "invalid_tool_call",
        },
        {
            "name": "g",
            "args": "[1]",
            "id": "c5",
            "error": "arguments must be a JSON object, got list",
            "type": "invalid_tool_call",
        },
        {
            "name": "h",
            "args": "5",
            "id": "c6",
            "error": "arguments must be a JSON object, got int",
            "type": "invalid_tool_call",
        },
        {
            "name": "",
            "args": "{}",
            "id": "c7",
            "error": "tool call has no function name",
            "type": "invalid_tool_call",
        },
    ]


@pytest.mark.parametrize("raw", [None, {}, "x", []])
def test_tool_calls_that_are_not_a_list_are_none(raw: Any) -> None:
    assert map_tool_calls(raw) == ([], [])


def test_arguments_that_cannot_be_json_are_quoted_as_text() -> None:
    _, invalid = map_tool_calls(
        [{"id": "c", "function": {"name": "f", "arguments": [float("nan")]}}]
    )
    assert invalid[0]["args"] == "[nan]"


@pytest.mark.parametrize(
    ("value", "count"),
    [
        (7, 7),
        (0, 0),
        (-3, 0),
        (4.0, 4),
        (-4.0, 0),
        (4.5, 0),
        (" 12 ", 12),
        ("1.5", 0),
        ("-2", 0),
        ("", 0),
        (True, 0),
        (False, 0),
        (None, 0),
        ([3], 0),
    ],
)
def test_a_token_count_is_a_non_negative_int(value: Any, count: int) -> None:
    assert token_count(value) == count
    assert type(token_count(value)) is int


def test_total_tokens_is_the_servers_when_given() -> None:
    usage = map_usage({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": "9"})
    assert usage == {"input_tokens": 5, "output_tokens": 2, "total_tokens": 9}


def test_total_tokens_is_the_sum_when_not_given() -> None:
    usage = map_usage({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": None})
    assert usage == {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}


def test_token_details_map_to_langchains_names() -> None:
    usage = map_usage(
        {
            "prompt_tokens": 5,
            "completion_tokens": 2,
            "prompt_tokens_details": {"cached_tokens": 3, "audio_tokens": "1"},
            "completion_tokens_details": {"reasoning_tokens": 1, "audio_tokens": 2.0},
        }
    )
    assert usage == {
        "input_tokens": 5,
        "output_tokens": 2,
        "total_tokens": 7,
        "input_token_details": {"cache_read": 3, "audio": 1},
        "output_token_details": {"reasoning": 1, "audio": 2},
    }


@pytest.mark.parametrize("details", [None, {}, {"cached_tokens": None, "reasoning_tokens": None}])
def test_empty_token_details_are_left_out(details: Any) -> None:
    usage = map_usage({"prompt_tokens_details": details, "completion_tokens_details": details})
    assert usage == {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}


def test_a_count_in_digits_int_cannot_read_is_zero() -> None:
    assert token_count("²") == 0


# -- message text: what is not text --------------------------------------------------


@pytest.mark.parametrize(
    ("content", "kind"), [(5, "int"), ({"text": "a"}, "dict"), (True, "bool"), (1.5, "float")]
)
def test_content_that_is_not_text_is_a_typed_error_naming_where_and_its_type(
    content: Any, kind: str
) -> None:
    with pytest.raises(NebulaResponseError) as caught:
        message_text(content, "choice 2's")
    assert type(caught.value) is NebulaResponseError
    assert caught.value.message == f"choice 2's content is a JSON {kind}, not text"
    assert caught.value.body == str(content)


def test_content_that_is_not_text_is_quoted_up_to_200_characters() -> None:
    with pytest.raises(NebulaResponseError) as caught:
        message_text({"text": "x" * 500}, "w")
    assert caught.value.body == str({"text": "x" * 500})[:200]


def test_a_part_whose_text_is_not_a_string_is_kept_aside() -> None:
    read = message_text([{"text": 5}, {"refusal": None}, {"text": "a", "refusal": "r"}], "w")
    assert (read.text, read.refusal, read.other_parts) == (
        "a",
        "",
        [{"text": 5}, {"refusal": None}],
    )


def test_message_text_defaults_to_no_refusal_and_no_other_parts() -> None:
    read = MessageText("t")
    assert (read.text, read.refusal, read.other_parts) == ("t", "", [])


# -- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "parts", "refusal"),
    [
        ({"refusal": "no. "}, "and no", "no. and no"),
        ({"refusal": "no"}, "", "no"),
        ({}, "parts only", "parts only"),
        ({"refusal": None}, "", ""),
        ({"refusal": 5}, "p", "p"),
        ({"refusal": ["no"]}, "", ""),
        ({"refusal": ""}, "", ""),
    ],
)
def test_a_refusal_is_the_field_then_the_refusal_parts(
    message: dict[str, Any], parts: str, refusal: str
) -> None:
    assert read_refusal(message, MessageText("text", parts)) == refusal


# -- logprobs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "logprobs",
    [
        {"content": [{"token": "a", "logprob": -0.5, "bytes": [97], "top_logprobs": []}]},
        {"content": None, "refusal": None},
        [1, 2],
        "odd",
    ],
)
def test_logprobs_are_reported_as_sent(logprobs: Any) -> None:
    assert read_logprobs({"index": 0, "logprobs": logprobs}) is logprobs


@pytest.mark.parametrize("choice", [{}, {"logprobs": None}, {"delta": {"logprobs": [1]}}])
def test_a_choice_without_logprobs_has_none(choice: dict[str, Any]) -> None:
    assert read_logprobs(choice) is None


# -- tool-call arguments sent as JSON ---------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "text"),
    [
        ({"a": 1, "b": "é"}, '{"a":1,"b":"é"}'),
        ([1, None], "[1,null]"),
        (7, "7"),
        ({"x": float("nan")}, "{'x': nan}"),
        ({1j: 2}, "{1j: 2}"),
    ],
)
def test_arguments_sent_as_json_are_quoted_as_json_text(arguments: Any, text: str) -> None:
    assert arguments_text(arguments) == text


# -- finish metadata -------------------------------------------------------------------------


def test_response_metadata_names_the_finish_model_id_and_provider() -> None:
    body = {"id": "c1", "model": "m", "choices": []}
    assert response_metadata(body, "stop") == {
        "finish_reason": "stop",
        "model_name": "m",
        "id": "c1",
        "model_provider": "nebula",
    }


def test_response_metadata_without_model_or_id_says_none() -> None:
    assert response_metadata({}, None) == {
        "finish_reason": None,
        "model_name": None,
        "id": None,
        "model_provider": "nebula",
    }


def test_response_metadata_adds_the_fingerprint_and_a_copy_of_the_headers() -> None:
    headers = {"x-request-id": "r"}
    metadata = response_metadata({"system_fingerprint": "fp"}, "length", headers)
    assert metadata == {
        "finish_reason": "length",
        "model_name": None,
        "id": None,
        "model_provider": "nebula",
        "system_fingerprint": "fp",
        "headers": {"x-request-id": "r"},
    }
    assert metadata["headers"] is not headers
    assert type(metadata["headers"]) is dict


def test_a_null_fingerprint_is_left_out_and_empty_headers_are_kept() -> None:
    metadata = response_metadata({"system_fingerprint": None}, "stop", {})
    assert "system_fingerprint" not in metadata
    assert metadata["headers"] == {}


def test_a_fingerprint_that_is_not_text_is_reported_as_sent() -> None:
    assert response_metadata({"system_fingerprint": 0}, "stop")["system_fingerprint"] == 0


# -- usage edge cases ---------------------------------------------------------------------


def test_an_empty_usage_object_is_all_zero() -> None:
    assert map_usage({}) == {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}


def test_a_total_of_zero_from_the_server_is_kept_not_summed() -> None:
    usage = map_usage({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 0})
    assert usage["total_tokens"] == 0


def test_null_token_details_are_left_out_per_field() -> None:
    usage = map_usage(
        {
            "prompt_tokens_details": {"cached_tokens": None, "audio_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": None},
        }
    )
    assert usage == {
        "input_tokens": 0,
        "output_tokens": 0,
        "total_tokens": 0,
        "input_token_details": {"audio": 4},
        "output_token_details": {"reasoning": 0},
    }
