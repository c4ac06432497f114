"""Stream events → chunks, exactly: every field of every chunk ``StreamParser`` returns.

Each test feeds events the way a server sends them and compares whole
``ChatGenerationChunk`` objects (content, ids, additional kwargs, metadata, tool-call
chunks, usage, position, generation info), so any field that changes fails.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk
from langchain_core.messages.tool import ToolCallChunk
from langchain_core.outputs import ChatGenerationChunk

from langchain_nebula import (
    NebulaAuthenticationError,
    NebulaResponseError,
    NebulaStreamError,
)
from langchain_nebula._redaction import Redactor
from langchain_nebula._wire.chunks import StreamParser, TextChunks
from tests.scripted_server import chunk, sse, usage_chunk
from tests.stream_helpers import run_stream

ID = "chatcmpl-3812731562554b23a32dd80fbb7d0d09"
MODEL = "meta-llama/Llama-3.3-70B-Instruct"
KEY = "sk-live-0123456789abcdef"
FINISHED = {"finish_reason": "stop", "model_name": MODEL, "id": ID, "model_provider": "nebula"}
USAGE = {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}


def feed(parser: StreamParser, *events: Any) -> list[ChatGenerationChunk | None]:
    return [
        parser.feed(event if isinstance(event, bytes) else json.dumps(event).encode())
        for event in events
    ]


def delta(content: str | None = None, finish_reason: str | None = None, **fields: Any) -> Any:
    body: dict[str, Any] = dict(fields)
    if content is not None:
        body["content"] = content
    return chunk(body, finish_reason=finish_reason)


def text(content: str, **message: Any) -> ChatGenerationChunk:
    return ChatGenerationChunk(message=AIMessageChunk(content=content, id=ID, **message))


def last(**message: Any) -> ChatGenerationChunk:
    message.setdefault("response_metadata", {"model_provider": "nebula"})
    message.setdefault("content", "")
    return ChatGenerationChunk(message=AIMessageChunk(id=ID, chunk_position="last", **message))


def finish(content: str = "", **message: Any) -> ChatGenerationChunk:
    message.setdefault("response_metadata", FINISHED)
    return ChatGenerationChunk(
        message=AIMessageChunk(content=content, id=ID, **message),
        generation_info={"finish_reason": "stop"},
    )


# -- plain text ------------------------------------------------------------------------------


def test_a_new_parser_has_not_seen_done() -> None:
    assert StreamParser().done is False


def test_a_text_delta_is_a_chunk_of_that_text_and_the_stream_id() -> None:
    assert feed(StreamParser(), delta("Hello")) == [text("Hello")]


def test_an_empty_delta_is_no_chunk() -> None:
    assert feed(StreamParser(), delta(""), delta(role="assistant"), chunk(None)) == [None] * 3


def test_a_null_delta_is_an_empty_one() -> None:
    event = chunk(finish_reason="stop")
    event["choices"][0]["delta"] = None
    assert feed(StreamParser(), event) == [finish()]


def test_the_finishing_chunk_carries_invoke_metadata_and_generation_info() -> None:
    event = delta("!", "stop", system_fingerprint="fp-1")
    event["system_fingerprint"] = "fp-9"
    assert feed(StreamParser(), event) == [
        finish("!", response_metadata={**FINISHED, "system_fingerprint": "fp-9"})
    ]


def test_an_event_without_an_id_gives_chunks_without_one() -> None:
    event = delta("x")
    del event["id"]
    assert feed(StreamParser(), event) == [ChatGenerationChunk(message=AIMessageChunk("x"))]


def test_the_first_id_is_kept_for_every_chunk() -> None:
    later = delta("b")
    later["id"] = "other"
    assert feed(StreamParser(), delta("a"), later) == [text("a"), text("b")]


def test_done_gives_the_last_chunk_and_ends_the_stream() -> None:
    parser = StreamParser()
    assert feed(parser, delta("a"), b"[DONE]", delta("late")) == [text("a"), last(), None]
    assert parser.done is True


def test_done_may_have_surrounding_whitespace() -> None:
    assert feed(StreamParser(), b" [DONE]\n") == [
        ChatGenerationChunk(
            message=AIMessageChunk(
                content="", chunk_position="last", response_metadata={"model_provider": "nebula"}
            )
        )
    ]


def test_the_stream_must_end_with_done() -> None:
    parser = StreamParser()
    feed(parser, delta("a"))
    with pytest.raises(NebulaStreamError) as caught:
        parser.end()
    assert caught.value.message == "the stream ended before [DONE]; the answer may be incomplete"
    assert caught.value.retryable is True


def test_a_stream_that_saw_done_ends_quietly() -> None:
    parser = StreamParser()
    feed(parser, b"[DONE]")
    parser.end()


# -- usage -----------------------------------------------------------------------------------


def test_usage_is_reported_once_on_the_last_chunk() -> None:
    parser = StreamParser()
    assert feed(parser, delta("a"), usage_chunk(), b"[DONE]") == [
        text("a"),
        None,
        last(
            usage_metadata={"input_tokens": 10, "output_tokens": 3, "total_tokens": 13},
            response_metadata={"model_provider": "nebula", "token_usage": USAGE},
        ),
    ]


def test_the_usage_only_chunk_wins_over_running_totals() -> None:
    running = delta("b")
    running["usage"] = {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}
    later = delta("c")
    later["usage"] = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
    chunks = feed(StreamParser(), running, usage_chunk(), later, b"[DONE]")
    assert chunks[-1] == last(
        usage_metadata={"input_tokens": 10, "output_tokens": 3, "total_tokens": 13},
        response_metadata={"model_provider": "nebula", "token_usage": USAGE},
    )


def test_running_usage_totals_are_kept_until_the_last_one() -> None:
    first, second = delta("a"), delta("b")
    first["usage"] = {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5}
    second["usage"] = {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}
    chunks = feed(StreamParser(), first, second, b"[DONE]")
    assert chunks[-1] == last(
        usage_metadata={"input_tokens": 4, "output_tokens": 2, "total_tokens": 6},
        response_metadata={"model_provider": "nebula", "token_usage": second["usage"]},
    )


# -- headers ---------------------------------------------------------------------------------


def test_headers_go_on_the_first_chunk_only() -> None:
    parser = StreamParser(headers={"x-request-id": "r-1"})
    assert feed(parser, delta("a"), delta("b")) == [
        ChatGenerationChunk(
            message=AIMessageChunk(
                content="a", id=ID, response_metadata={"headers": {"x-request-id": "r-1"}}
            )
        ),
        text("b"),
    ]


def test_headers_of_a_stream_with_no_content_go_on_the_last_chunk() -> None:
    parser = StreamParser(headers={"x-request-id": "r-1"})
    assert feed(parser, delta(""), b"[DONE]") == [
        ChatGenerationChunk(
            message=AIMessageChunk(
                content="", id=ID, response_metadata={"headers": {"x-request-id": "r-1"}}
            )
        ),
        last(),
    ]


def test_headers_are_reported_on_the_last_chunk_if_no_chunk_came_before() -> None:
    parser = StreamParser(headers={"x-request-id": "r-1"})
    assert feed(parser, b"[DONE]") == [
        ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                chunk_position="last",
                response_metadata={"model_provider": "nebula", "headers": {"x-request-id": "r-1"}},
            )
        )
    ]


# -- logprobs, refusals, content parts -------------------------------------------------------


def test_logprobs_are_reported_on_their_chunk() -> None:
    event = delta("a")
    event["choices"][0]["logprobs"] = {"content": [{"token": "a", "logprob": -0.1}]}
    assert feed(StreamParser(), event) == [
        text("a", response_metadata={"logprobs": event["choices"][0]["logprobs"]})
    ]


def test_a_refusal_field_goes_to_additional_kwargs() -> None:
    assert feed(StreamParser(), delta(refusal="I can't")) == [
        text("", additional_kwargs={"refusal": "I can't"})
    ]


def test_an_empty_refusal_is_no_refusal() -> None:
    assert feed(StreamParser(), delta("a", refusal="")) == [text("a")]


def test_content_parts_are_read_as_text_refusal_and_other_parts() -> None:
    parts = [
        {"type": "text", "text": "A"},
        "B",
        {"type": "refusal", "refusal": "no. "},
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
    ]
    assert feed(StreamParser(), delta(parts, refusal="Sorry.")) == [
        text(
            "AB",
            additional_kwargs={
                "refusal": "Sorry.no. ",  # as invoke reads it: the field, then the parts
                "content_parts": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
            },
        )
    ]


def test_null_content_is_empty() -> None:
    event = chunk({"content": None, "refusal": "r"})
    assert feed(StreamParser(), event) == [text("", additional_kwargs={"refusal": "r"})]


# -- reasoning -------------------------------------------------------------------------------


def test_a_reasoning_field_is_trimmed_reasoning_and_the_answer_is_left_stripped() -> None:
    parser = StreamParser()
    chunks = feed(
        parser,
        delta(reasoning_content="\n think "),
        delta(reasoning_content="more\n"),
        delta(" "),
        delta("\n answer "),
        delta(" rest"),
    )
    assert chunks == [
        text("", additional_kwargs={"reasoning_content": "think"}),
        text("", additional_kwargs={"reasoning_content": " more"}),
        None,
        text("answer "),
        text(" rest"),
    ]


def test_newer_vllms_reasoning_field_is_read_too() -> None:
    assert feed(StreamParser(), delta(reasoning="why")) == [
        text("", additional_kwargs={"reasoning_content": "why"})
    ]


def test_mode_none_passes_a_reasoning_field_and_content_through_verbatim() -> None:
    parser = StreamParser(mode="none")
    assert feed(parser, delta(reasoning_content=" r "), delta(" <think>a</think> b")) == [
        text("", additional_kwargs={"reasoning_content": " r "}),
        text(" <think>a</think> b"),
    ]


def test_mode_field_leaves_tags_in_the_content() -> None:
    assert feed(StreamParser(mode="field"), delta("<think>a</think>b")) == [
        text("<think>a</think>b")
    ]


@pytest.mark.parametrize("mode", ["tags", "leading_tag"])
def test_tag_modes_split_a_leading_think_section(mode: str) -> None:
    assert feed(StreamParser(mode=mode), delta("<think>a</think>b")) == [  # type: ignore[arg-type]
        text("b", additional_kwargs={"reasoning_content": "a"})
    ]


def test_leading_tag_mode_does_not_split_at_a_bare_closing_tag() -> None:
    parser = StreamParser(mode="leading_tag")
    assert feed(parser, delta("a</think>b"), b"[DONE]") == [text("a</think>b"), last()]


def test_tags_mode_splits_at_a_bare_closing_tag() -> None:
    parser = StreamParser(mode="tags")
    assert feed(parser, delta("a</think>b")) == [
        text("b", additional_kwargs={"reasoning_content": "a"})
    ]


def test_a_reasoning_field_releases_text_held_by_the_tag_splitter_as_sent() -> None:
    parser = StreamParser(mode="tags")
    assert feed(parser, delta("held "), delta(reasoning_content="r"), delta("x</think>y")) == [
        None,
        text("held ", additional_kwargs={"reasoning_content": "r"}),
        text("x</think>y"),
    ]


def test_a_reasoning_section_cut_by_the_finish_keeps_all_its_reasoning() -> None:
    assert feed(StreamParser(mode="tags"), delta("<think>abc</thi", "length")) == [
        ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                id=ID,
                additional_kwargs={"reasoning_content": "abc</thi"},
                response_metadata={
                    **FINISHED,
                    "finish_reason": "length",
                    "reasoning_unfinished": True,
                },
            ),
            generation_info={"finish_reason": "length"},
        )
    ]


def test_undecided_text_is_the_answer_when_the_reply_finishes() -> None:
    assert feed(StreamParser(mode="tags"), delta("plain"), delta("", "stop")) == [
        None,
        finish("plain"),
    ]


def test_the_splitter_is_dropped_once_the_answer_is_decided() -> None:
    parser = StreamParser(mode="leading_tag")
    assert feed(parser, delta("plain "), delta("<think>x</think>")) == [
        text("plain "),
        text("<think>x</think>"),
    ]


def test_a_stream_that_ends_inside_reasoning_reports_it_on_the_last_chunk() -> None:
    parser = StreamParser(mode="tags")
    assert feed(parser, delta("<think>abc "), b"[DONE]") == [
        text("", additional_kwargs={"reasoning_content": "abc"}),
        last(response_metadata={"model_provider": "nebula", "reasoning_unfinished": True}),
    ]


def test_the_last_chunk_releases_held_reasoning() -> None:
    parser = StreamParser(mode="tags")
    assert feed(parser, delta("<think>abc</thi"), b"[DONE]") == [
        text("", additional_kwargs={"reasoning_content": "abc"}),
        last(
            additional_kwargs={"reasoning_content": "</thi"},
            response_metadata={"model_provider": "nebula", "reasoning_unfinished": True},
        ),
    ]


def test_the_last_chunk_releases_held_undecided_text_as_the_answer() -> None:
    parser = StreamParser(mode="tags")
    assert feed(parser, delta("no tags"), b"[DONE]") == [None, last(content="no tags")]


# -- tool calls ------------------------------------------------------------------------------


def tool_calls(*calls: Any, finish_reason: str | None = None) -> Any:
    return chunk({"tool_calls": list(calls)}, finish_reason=finish_reason)


def call_chunk(
    name: str | None, args: str | None, call_id: str | None, index: int
) -> ToolCallChunk:
    return ToolCallChunk(name=name, args=args, id=call_id, index=index, type="tool_call_chunk")


def with_calls(*chunks: ToolCallChunk) -> ChatGenerationChunk:
    return text("", tool_call_chunks=list(chunks))


def test_tool_call_deltas_become_tool_call_chunks() -> None:
    parser = StreamParser()
    first = {"index": 0, "id": "call_1", "function": {"name": "add", "arguments": ""}}
    more = {"index": 0, "function": {"arguments": '{"a": 1}'}}
    assert feed(parser, tool_calls(first), tool_calls(more)) == [
        with_calls(call_chunk("add", "", "call_1", 0)),
        with_calls(call_chunk(None, '{"a": 1}', None, 0)),
    ]


def test_a_repeated_name_and_id_are_sent_once() -> None:
    parser = StreamParser()
    again = {"index": 0, "id": "call_1", "function": {"name": "add", "arguments": "{}"}}
    assert feed(parser, tool_calls(again), tool_calls(again)) == [
        with_calls(call_chunk("add", "{}", "call_1", 0)),
        with_calls(call_chunk(None, "{}", None, 0)),
    ]


def test_a_different_id_for_a_known_call_is_kept() -> None:
    parser = StreamParser()
    first = {"index": 0, "id": "call_1", "function": {"name": "add"}}
    other = {"index": 0, "id": "call_2", "function": {"name": "add"}}
    assert feed(parser, tool_calls(first), tool_calls(other)) == [
        with_calls(call_chunk("add", None, "call_1", 0)),
        with_calls(call_chunk(None, None, "call_2", 0)),
    ]


def test_a_call_without_an_id_gets_one_minted_from_the_stream_id() -> None:
    parser = StreamParser()
    named = {"index": 2, "function": {"name": "add", "arguments": ""}}
    assert feed(parser, tool_calls(named)) == [with_calls(call_chunk("add", "", f"call_{ID}_2", 2))]


def test_a_call_without_an_id_in_a_stream_without_one_gets_a_fixed_prefix() -> None:
    event = tool_calls({"index": 0, "function": {"name": "add"}})
    del event["id"]
    assert feed(StreamParser(), event) == [
        ChatGenerationChunk(
            message=AIMessageChunk(
                content="", tool_call_chunks=[call_chunk("add", None, "call_nebula_0", 0)]
            )
        )
    ]


def test_ids_and_names_that_are_not_strings_are_dropped() -> None:
    odd = {"index": 0, "id": 5, "function": {"name": 7, "arguments": "x"}}
    assert feed(StreamParser(), tool_calls(odd)) == [with_calls(call_chunk(None, "x", None, 0))]


def test_a_non_string_id_does_not_stop_an_id_being_minted() -> None:
    odd = {"index": 0, "id": 5, "function": {"name": "add"}}
    assert feed(StreamParser(), tool_calls(odd)) == [
        with_calls(call_chunk("add", None, f"call_{ID}_0", 0))
    ]


def test_entries_that_are_not_objects_are_skipped_and_positions_index_the_rest() -> None:
    second = {"id": "c", "function": {"name": "f"}}
    assert feed(StreamParser(), tool_calls(None, "x", second)) == [
        with_calls(call_chunk("f", None, "c", 2))
    ]


@pytest.mark.parametrize("index", [None, "1", True])
def test_an_index_that_is_not_an_integer_is_the_position(index: Any) -> None:
    call = {"index": index, "id": "c", "function": {"name": "f"}}
    assert feed(StreamParser(), tool_calls(call)) == [with_calls(call_chunk("f", None, "c", 0))]


def test_a_function_that_is_not_an_object_is_ignored() -> None:
    call = {"index": 0, "id": "c", "function": "f"}
    assert feed(StreamParser(), tool_calls(call)) == [with_calls(call_chunk(None, None, "c", 0))]


def test_arguments_sent_as_an_object_become_json_text() -> None:
    call = {"index": 0, "id": "c", "function": {"name": "f", "arguments": {"a": "é"}}}
    assert feed(StreamParser(), tool_calls(call)) == [
        with_calls(call_chunk("f", '{"a":"é"}', "c", 0))
    ]


def test_tool_calls_that_are_not_a_list_give_no_chunks() -> None:
    event = chunk({"tool_calls": {"index": 0}})
    assert feed(StreamParser(), event) == [with_calls()]


# -- errors ----------------------------------------------------------------------------------


def test_an_error_event_raises_its_typed_error() -> None:
    event = {"error": {"message": f"bad key {KEY}", "code": 401}}
    with pytest.raises(NebulaAuthenticationError) as caught:
        feed(StreamParser(redactor=Redactor(KEY)), event)
    assert caught.value.message == "error event in stream: bad key ***"


def test_an_unparseable_event_is_quoted_in_its_first_200_bytes() -> None:
    head = b"oops \xff " + KEY.encode() + b" "
    data = head + b"z" * 300
    with pytest.raises(NebulaStreamError) as caught:
        StreamParser(redactor=Redactor(KEY)).feed(data)
    snippet = "oops \ufffd *** " + "z" * (200 - len(head))
    assert caught.value.message == f"unparseable stream event: {snippet!r}"
    assert caught.value.body == snippet
    assert caught.value.retryable is False


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([1, 2], "a stream event is a JSON list"),
        ("text", "a stream event is a JSON str"),
        ({"choices": [], "usage": [1]}, "a stream event's usage is not an object"),
        ({"choices": {"0": {}}}, "a stream event's choices are not a list of objects"),
        ({"choices": [None]}, "a stream event's choices are not a list of objects"),
        ({"choices": [{"delta": "x"}]}, "a stream delta is not an object"),
    ],
)
def test_a_malformed_event_names_what_is_wrong(event: Any, message: str) -> None:
    with pytest.raises(NebulaStreamError) as caught:
        feed(StreamParser(), event)
    assert type(caught.value) is NebulaStreamError
    assert caught.value.message == f"{message}, which is not a chat completion chunk"
    assert caught.value.body == str(event)


def test_delta_content_that_is_not_text_is_refused_naming_it() -> None:
    event = chunk({"content": 5})
    with pytest.raises(NebulaResponseError) as caught:
        feed(StreamParser(), event)
    assert caught.value.body == str(event)[:500]
    assert caught.value.message == (
        "a stream delta's content is a JSON int, which is not a chat completion chunk"
    )
    assert caught.value.retryable is False


def test_delta_content_that_is_not_text_is_a_stream_error() -> None:
    with pytest.raises(NebulaResponseError) as caught:
        feed(StreamParser(), chunk({"content": 5}))
    assert type(caught.value) is NebulaStreamError


def test_a_malformed_event_is_quoted_masked_and_cut_to_500_characters() -> None:
    event = {"choices": [{"delta": KEY + "y" * 600}]}
    with pytest.raises(NebulaStreamError) as caught:
        feed(StreamParser(redactor=Redactor(KEY)), event)
    assert caught.value.body == str(event)[:500].replace(KEY, "***")


def test_text_chunks_mark_the_same_fields_set_as_construction() -> None:
    # The copy path must not mark its updated fields as set: exclude_unset dumps (and
    # anything else reading model_fields_set) would then differ from a built chunk.
    for message_id in (ID, None):
        fast = TextChunks(message_id)("hi")
        slow = ChatGenerationChunk(message=AIMessageChunk(content="hi", id=message_id))
        assert fast.model_fields_set == slow.model_fields_set
        assert fast.message.model_fields_set == slow.message.model_fields_set
        assert fast.model_dump(exclude_unset=True) == slow.model_dump(exclude_unset=True)


def test_an_id_that_arrives_after_the_first_text_is_on_the_later_chunks() -> None:
    parser = StreamParser()
    nameless = chunk({"content": "a"})
    del nameless["id"]
    first, second, third = feed(
        parser, nameless, chunk({"content": "b"}, id="two"), chunk({"content": "c"}, id="three")
    )
    assert [c.message.id if c else "missing" for c in (first, second, third)] == [
        None,
        "two",
        "two",
    ]


def test_a_stream_with_an_unreadable_usage_count_still_ends() -> None:
    events = [
        b'data: {"id": "c", "choices": [{"delta": {"content": "hi"}}]}\n\n',
        b'data: {"id": "c", "choices": [], "usage": {"prompt_tokens": "\\u00b2"}}\n\n',
        b"data: [DONE]\n\n",
    ]
    chunks = run_stream(events)
    assert chunks[-1].message.usage_metadata == {
        "input_tokens": 0,
        "output_tokens": 0,
        "total_tokens": 0,
    }


def test_delta_content_that_is_not_text_is_named_exactly() -> None:
    event = chunk({"content": 5})
    with pytest.raises(NebulaStreamError) as caught:
        run_stream(sse(event))
    assert type(caught.value) is NebulaStreamError
    assert caught.value.message == (
        "a stream delta's content is a JSON int, which is not a chat completion chunk"
    )
    assert caught.value.body == str(event)
