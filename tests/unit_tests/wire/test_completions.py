"""Completion bodies → LangChain results, exactly: every field invoke returns.

``map_completion`` builds what ``invoke`` returns; these tests compare whole
``ChatResult`` objects and the exact error for each malformed shape. The readers of a
choice it shares with streaming (usage, tool calls, content parts) are pinned in
wire/test_choices.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from langchain_nebula import NebulaResponseError
from langchain_nebula._wire import completions as _responses
from langchain_nebula._wire.completions import combine_llm_outputs, map_completion

ID = "chatcmpl-1"
MODEL = "qwen"


def body(*choices: Any, **fields: Any) -> dict[str, Any]:
    return {"id": ID, "model": MODEL, "choices": list(choices), **fields}


def choice(content: Any = "hi", finish_reason: Any = "stop", **message: Any) -> dict[str, Any]:
    return {"index": 0, "finish_reason": finish_reason, "message": {"content": content, **message}}


def metadata(finish_reason: Any = "stop", **extra: Any) -> dict[str, Any]:
    return {
        "finish_reason": finish_reason,
        "model_name": MODEL,
        "id": ID,
        "model_provider": "nebula",
        **extra,
    }


def result(*generations: ChatGeneration, **llm_output: Any) -> ChatResult:
    return ChatResult(generations=list(generations), llm_output={"model_name": MODEL, **llm_output})


def generation(
    content: str = "hi",
    *,
    finish_reason: Any = "stop",
    info: dict[str, Any] | None = None,
    **message: Any,
) -> ChatGeneration:
    message.setdefault("response_metadata", metadata(finish_reason))
    message.setdefault("id", ID)
    return ChatGeneration(
        message=AIMessage(content=content, **message),
        generation_info=info or {"finish_reason": finish_reason},
    )


def shape_error(raw: Any, **options: Any) -> NebulaResponseError:
    with pytest.raises(NebulaResponseError) as caught:
        map_completion(raw, **options)
    assert type(caught.value) is NebulaResponseError
    assert caught.value.retryable is False
    return caught.value


# -- whole results -----------------------------------------------------------------------------


def test_a_plain_completion_maps_to_one_generation() -> None:
    assert map_completion(body(choice())) == result(generation())


def test_usage_is_reported_on_the_message_and_in_llm_output() -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    assert map_completion(body(choice(), usage=usage)) == result(
        generation(usage_metadata={"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}),
        token_usage=usage,
    )


def test_usage_that_is_not_an_object_is_ignored() -> None:
    assert map_completion(body(choice(), usage=[1])) == result(generation())


def test_system_fingerprint_logprobs_and_headers_are_reported() -> None:
    logprobs = {"content": [{"token": "hi", "logprob": -0.5}]}
    raw = body({**choice(), "logprobs": logprobs}, system_fingerprint="fp-1")
    assert map_completion(raw, headers={"x-request-id": "r"}) == result(
        generation(
            response_metadata=metadata(
                system_fingerprint="fp-1", headers={"x-request-id": "r"}, logprobs=logprobs
            ),
            info={"finish_reason": "stop", "logprobs": logprobs},
        )
    )


def test_several_choices_get_ids_of_their_own() -> None:
    raw = body(choice("a"), choice("b", "length"))
    assert map_completion(raw) == result(
        generation("a", id=f"{ID}-0"),
        generation("b", id=f"{ID}-1", finish_reason="length"),
    )


def test_a_completion_without_an_id_gives_messages_without_one() -> None:
    raw = {"model": MODEL, "id": 5, "choices": [choice("a"), choice("b")]}
    assert [g.message.id for g in map_completion(raw).generations] == [None, None]


def test_a_null_message_is_an_empty_answer() -> None:
    raw = body({"index": 0, "finish_reason": "stop", "message": None})
    assert map_completion(raw) == result(generation(""))


def test_refusals_from_the_field_and_the_parts_are_joined() -> None:
    parts = [{"type": "refusal", "refusal": "No. "}, {"type": "refusal", "refusal": "Sorry. "}]
    raw = body(choice(parts, refusal="Can't."))
    assert map_completion(raw) == result(
        generation("", additional_kwargs={"refusal": "Can't.No. Sorry. "})
    )


def test_a_refusal_that_is_not_text_is_ignored() -> None:
    assert map_completion(body(choice("hi", refusal=5))) == result(generation())


def test_content_parts_are_read_and_other_parts_kept() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
    raw = body(choice([{"type": "text", "text": "a"}, "b", image]))
    assert map_completion(raw) == result(
        generation("ab", additional_kwargs={"content_parts": [image]})
    )


# -- reasoning ---------------------------------------------------------------------------------


def test_by_default_tags_in_the_content_are_left_as_sent() -> None:
    assert map_completion(body(choice("<think>a</think>b"))) == result(
        generation("<think>a</think>b")
    )


def test_by_default_only_a_reasoning_field_is_reasoning() -> None:
    raw = body(choice("<think>a</think>b", reasoning_content=" r "))
    assert map_completion(raw) == result(
        generation("<think>a</think>b", additional_kwargs={"reasoning_content": "r"})
    )


def test_a_reasoning_field_strips_the_answers_leading_whitespace() -> None:
    raw = body(choice("\n\n answer ", reasoning_content="r"))
    assert map_completion(raw, "tags") == result(
        generation("answer ", additional_kwargs={"reasoning_content": "r"})
    )


def test_a_blank_reasoning_field_leaves_the_answer_as_sent() -> None:
    raw = body(choice("\n answer", reasoning_content="  "))
    assert map_completion(raw, "tags") == result(generation("\n answer"))


def test_mode_none_keeps_the_field_and_the_content_verbatim() -> None:
    raw = body(choice(" <think>a</think> b", reasoning_content=" r "))
    assert map_completion(raw, "none") == result(
        generation(" <think>a</think> b", additional_kwargs={"reasoning_content": " r "})
    )


def test_mode_none_without_a_field_has_no_reasoning() -> None:
    assert map_completion(body(choice("<think>a</think>b")), "none") == result(
        generation("<think>a</think>b")
    )


def test_tag_modes_split_tags_in_the_content() -> None:
    assert map_completion(body(choice("<think>a</think>b")), "leading_tag") == result(
        generation("b", additional_kwargs={"reasoning_content": "a"})
    )


def test_an_empty_answer_in_tags_mode_is_empty() -> None:
    assert map_completion(body(choice("", "length")), "tags") == result(
        generation("", finish_reason="length")
    )


def test_a_reply_cut_inside_its_reasoning_is_marked_unfinished() -> None:
    raw = body(choice("still thinking", "length"))
    assert map_completion(raw, "tags") == result(
        generation(
            "",
            finish_reason="length",
            additional_kwargs={"reasoning_content": "still thinking"},
            response_metadata=metadata("length", reasoning_unfinished=True),
        )
    )


# -- malformed completions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"id": ID}, "the completion has no choices"),
        ({"choices": []}, "the completion has no choices"),
        ({"choices": {"0": {}}}, "the completion has no choices"),
        (body(choice(), "oops"), "choice 1 is a JSON str, not an object"),
        (body({"message": [1]}), "choice 0's message is a JSON list, not an object"),
        (body(choice(5)), "choice 0's content is a JSON int, not text"),
    ],
)
def test_a_malformed_completion_names_what_is_wrong(raw: Any, message: str) -> None:
    error = shape_error(raw)
    assert error.message == message


@pytest.mark.parametrize(
    "raw",
    [
        body({"message": [1]}, note="n" * 600),
        body("not a choice", note="n" * 600),
        {"choices": [], "note": "n" * 600},
    ],
    ids=["message", "choice", "no-choices"],
)
def test_a_malformed_completion_is_quoted_up_to_500_characters(raw: dict[str, Any]) -> None:
    assert shape_error(raw).body == str(raw)[:500]


def test_content_of_the_wrong_type_is_quoted_up_to_200_characters() -> None:
    content = {"text": "t" * 300}
    assert shape_error(body(choice(content))).body == str(content)[:200]


@pytest.mark.parametrize("failure", [TypeError, KeyError, AttributeError, ValueError])
def test_an_unforeseen_shape_is_still_a_typed_error(
    monkeypatch: pytest.MonkeyPatch, failure: type[Exception]
) -> None:
    # No known body reaches this guard; a check that fails in an unforeseen way stands in.
    def unforeseen(message: Any) -> None:
        raise failure("unforeseen")

    monkeypatch.setattr(_responses, "reasoning_field", unforeseen)
    raw = body(choice(), note="n" * 600)
    error = shape_error(raw)
    assert error.message == "the completion has an unexpected shape"
    assert error.body == str(raw)[:500]
    assert error.__cause__ is None
    assert error.__suppress_context__ is True


# -- tool calls (how each is read: wire/test_choices.py) ----------------------------------------


def test_tool_calls_reach_the_message() -> None:
    raw = body(choice("", "tool_calls", tool_calls=[{"id": "c", "function": {"name": "f"}}]))
    assert map_completion(raw) == result(
        generation(
            "",
            finish_reason="tool_calls",
            tool_calls=[{"name": "f", "args": {}, "id": "c", "type": "tool_call"}],
        )
    )


# -- a batch's llm_output -------------------------------------------------------------------


def test_no_outputs_name_the_model_and_no_usage() -> None:
    assert combine_llm_outputs([], "m") == {"model_name": "m"}
    assert combine_llm_outputs([None, {}], "m") == {"model_name": "m"}


def test_usage_is_summed_key_by_key_and_the_last_model_named_wins() -> None:
    outputs: list[dict[str, Any] | None] = [
        {"model_name": "a", "token_usage": {"prompt_tokens": 5, "completion_tokens": 2}},
        None,
        {"model_name": "b", "token_usage": {"prompt_tokens": "3", "total_tokens": 9}},
        {"model_name": "", "token_usage": {"completion_tokens": 1}},
    ]
    assert combine_llm_outputs(outputs, "m") == {
        "model_name": "b",
        "token_usage": {"prompt_tokens": 8, "completion_tokens": 3, "total_tokens": 9},
    }


def test_token_details_are_summed_and_unreadable_usage_counts_nothing() -> None:
    outputs: list[dict[str, Any] | None] = [
        {"token_usage": {"prompt_tokens_details": {"cached_tokens": 1}, "x": [1], "y": None}},
        {"token_usage": {"prompt_tokens": "lots", "z": True}},
        {"token_usage": [1, 2]},
        {"token_usage": None},
    ]
    assert combine_llm_outputs(outputs, "m") == {
        "model_name": "m",
        "token_usage": {"prompt_tokens_details": {"cached_tokens": 1}, "prompt_tokens": 0, "z": 0},
    }


def test_an_output_without_usage_keeps_the_others_usage() -> None:
    outputs: list[dict[str, Any] | None] = [
        {"model_name": "a"},
        {"token_usage": {"prompt_tokens": 1}},
    ]
    assert combine_llm_outputs(outputs, "m") == {
        "model_name": "a",
        "token_usage": {"prompt_tokens": 1},
    }
