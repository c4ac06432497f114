"""Invoke and stream agree, and nothing the server sent is lost: properties over replies.

A reply is generated (reasoning in a field, after an opening tag, before a bare closing
tag, or none; an answer; maybe a tool call; maybe log-probabilities for its tokens; stop
or length), sent once as a completion and once as a stream cut at arbitrary places. For
every reasoning mode, the message invoke builds and the sum of the stream's chunks must
be equal (log-probabilities included: the stream's per-chunk ``{"content": [...]}`` lists
add up to the completion's), and together their content, reasoning and tool-call
arguments hold every character the server sent (tags and the whitespace around
reasoning aside).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from functools import reduce
from operator import add
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage

from langchain_nebula import ChatNebula
from langchain_nebula._wire.completions import map_completion
from tests.scripted_server import ScriptedServer, chunk, completion, sse, usage_chunk
from tests.stream_helpers import run_stream

Make = Callable[..., ChatNebula]
THINKER = "deepseek-ai/DeepSeek-R1"
PLAIN = "meta-llama/Llama-3.3-70B-Instruct"
MODES = ("tags", "leading_tag", "field", "none")
TAGS = re.compile(r"</?think(?:ing)?>")
STREAM_ID = chunk()["id"]  # one response, whichever way it is read

# Text that may itself hold tag-like characters, so tags split across chunks are common.
TEXT = st.text(alphabet="ab é<>/\nk", max_size=24)
CUTS = st.lists(st.integers(min_value=0, max_value=80), max_size=6)
LOGPROB = st.floats(min_value=-30.0, max_value=0.0, allow_nan=False)


@st.composite
def token_logprobs(draw: st.DrawFn, piece: str) -> list[dict[str, Any]]:
    """The log-probabilities of the tokens of one streamed piece (0 to 2 tokens)."""
    tokens = draw(st.lists(st.sampled_from([piece, piece[:1], "é", "<"]), max_size=2))
    entries = []
    for token in tokens:
        alternatives = draw(st.lists(st.tuples(TEXT, LOGPROB), max_size=2))
        entries.append(
            {
                "token": token,
                "logprob": draw(LOGPROB),
                "bytes": list(token.encode()),
                "top_logprobs": [
                    {"token": t, "logprob": p, "bytes": list(t.encode())} for t, p in alternatives
                ],
            }
        )
    return entries


def split(text: str, cuts: list[int]) -> list[str]:
    bounds = sorted({0, len(text), *[c % (len(text) + 1) for c in cuts]})
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@st.composite
def replies(draw: st.DrawFn) -> dict[str, Any]:
    form = draw(st.sampled_from(["field", "open", "open_thinking", "bare_close", "plain"]))
    reasoning, answer = draw(TEXT), draw(TEXT)
    finish = draw(st.sampled_from(["stop", "length"]))
    field = None
    if form == "field":
        content, field = answer, reasoning
    elif form == "open":
        content = (
            f"<think>{reasoning}</think>{answer}"
            if draw(st.booleans())
            else (f"<think>{reasoning}")
        )
    elif form == "open_thinking":
        content = f"\n<thinking>{reasoning}</thinking>{answer}"
    elif form == "bare_close":
        content = f"{reasoning}</think>{answer}"
    else:
        content = answer
    tool_args = draw(st.one_of(st.none(), TEXT.map(lambda t: json.dumps({"x": t}))))
    content_cuts = draw(CUTS)
    logprobs = None
    if draw(st.booleans()):
        pieces = split(content, content_cuts)
        logprobs = [draw(token_logprobs(piece)) for piece in pieces]
    return {
        "content": content,
        "field": field,
        "finish": finish,
        "tool_args": tool_args,
        "content_cuts": content_cuts,
        "field_cuts": draw(CUTS),
        "args_cuts": draw(CUTS),
        "logprobs": logprobs,
    }


def all_logprobs(reply: dict[str, Any]) -> dict[str, Any] | None:
    """The completion's ``logprobs``: every token's, in order (``None``: not asked for)."""
    if reply.get("logprobs") is None:
        return None
    return {"content": [entry for piece in reply["logprobs"] for entry in piece]}


def completion_body(reply: dict[str, Any], model: str) -> dict[str, Any]:
    message: dict[str, Any] = {}
    if reply["field"] is not None:
        message["reasoning_content"] = reply["field"]
    if reply["tool_args"] is not None:
        message["tool_calls"] = [
            {
                "id": "call-1",
                "type": "function",
                "function": {"name": "f", "arguments": reply["tool_args"]},
            }
        ]
    body = completion(
        reply["content"],
        id=STREAM_ID,
        model=model,
        finish_reason=reply["finish"],
        usage={"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12},
        **message,
    )
    if (logprobs := all_logprobs(reply)) is not None:
        body["choices"][0]["logprobs"] = logprobs
    return body


def stream_events(reply: dict[str, Any], model: str) -> list[bytes]:
    events: list[Any] = [chunk({"role": "assistant", "content": ""}, model=model)]
    logprobs = reply.get("logprobs")
    if logprobs is not None:  # each content chunk carries its tokens' (the first: none)
        events[0]["choices"][0]["logprobs"] = {"content": []}
    if reply["field"] is not None:
        events += [
            chunk({"reasoning_content": part}, model=model)
            for part in split(reply["field"], reply["field_cuts"])
        ]
    for index, part in enumerate(split(reply["content"], reply["content_cuts"])):
        event = chunk({"content": part}, model=model)
        if logprobs is not None:
            event["choices"][0]["logprobs"] = {"content": logprobs[index]}
        events.append(event)
    if reply["tool_args"] is not None:
        head = {"index": 0, "id": "call-1", "type": "function", "function": {"name": "f"}}
        events.append(chunk({"tool_calls": [head]}, model=model))
        events += [
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}, model=model)
            for part in split(reply["tool_args"], reply["args_cuts"])
        ]
    events.append(chunk({}, finish_reason=reply["finish"], model=model))
    events.append(usage_chunk(7, 5))
    return sse(*events)


def reasoning_of(message: BaseMessage) -> str:
    return str(message.additional_kwargs.get("reasoning_content", ""))


def visible(message: BaseMessage) -> dict[str, Any]:
    """Everything a user reads off a message."""
    assert isinstance(message, AIMessage)  # an AIMessageChunk is one too
    return {
        "content": message.content,
        "reasoning": reasoning_of(message),
        "tool_calls": [(c["name"], c["args"], c["id"]) for c in message.tool_calls],
        "invalid_tool_calls": [(c["name"], c["args"]) for c in message.invalid_tool_calls],
        "usage": message.usage_metadata,
        "metadata": message.response_metadata,
        "id": message.id,
    }


def invoked(reply: dict[str, Any], model: str, mode: str) -> AIMessage:
    result = map_completion(completion_body(reply, model), mode)  # type: ignore[arg-type]
    message = result.generations[0].message
    assert isinstance(message, AIMessage)
    # What BaseChatModel.invoke adds from llm_output for a single generation.
    message.response_metadata = {**(result.llm_output or {}), **message.response_metadata}
    return message


def streamed(reply: dict[str, Any], model: str, mode: str) -> AIMessageChunk:
    chunks = [c.message for c in run_stream(stream_events(reply, model), mode=mode)]
    merged = reduce(add, chunks)
    assert isinstance(merged, AIMessageChunk)
    return merged


def no_whitespace(text: str) -> str:
    return "".join(TAGS.sub("", text).split())


@settings(max_examples=400, deadline=None)
@given(reply=replies(), model=st.sampled_from([THINKER, PLAIN]), mode=st.sampled_from(MODES))
def test_invoke_and_the_sum_of_the_stream_are_the_same_message(
    reply: dict[str, Any], model: str, mode: str
) -> None:
    by_invoke = visible(invoked(reply, model, mode))
    by_stream = visible(streamed(reply, model, mode))
    assert by_invoke == by_stream


@settings(max_examples=400, deadline=None)
@given(reply=replies(), model=st.sampled_from([THINKER, PLAIN]), mode=st.sampled_from(MODES))
def test_stream_metadata_is_what_invoke_reports(
    reply: dict[str, Any], model: str, mode: str
) -> None:
    assert (
        invoked(reply, model, mode).response_metadata
        == streamed(reply, model, mode).response_metadata
    )


@settings(max_examples=400, deadline=None)
@given(reply=replies(), model=st.sampled_from([THINKER, PLAIN]), mode=st.sampled_from(MODES))
def test_every_tokens_logprobs_come_out_the_same_both_ways(
    reply: dict[str, Any], model: str, mode: str
) -> None:
    sent = all_logprobs(reply)
    assert invoked(reply, model, mode).response_metadata.get("logprobs") == sent
    assert streamed(reply, model, mode).response_metadata.get("logprobs") == sent


@settings(max_examples=400, deadline=None)
@given(reply=replies(), model=st.sampled_from([THINKER, PLAIN]), mode=st.sampled_from(MODES))
def test_no_character_the_server_sent_is_lost(reply: dict[str, Any], model: str, mode: str) -> None:
    sent = no_whitespace((reply["field"] or "") + reply["content"])
    for message in (invoked(reply, model, mode), streamed(reply, model, mode)):
        received = no_whitespace(reasoning_of(message) + str(message.content))
        assert received == sent
        if reply["tool_args"] is not None:
            args = message.tool_calls[0]["args"] if message.tool_calls else None
            assert args == json.loads(reply["tool_args"])


def text_reply(content: str, finish: str, *, cuts: list[int]) -> dict[str, Any]:
    """A reply of text only (no field, no tool call), streamed in pieces cut at ``cuts``."""
    return {
        "content": content,
        "field": None,
        "finish": finish,
        "tool_args": None,
        "content_cuts": cuts,
        "field_cuts": [],
        "args_cuts": [],
        "logprobs": None,
    }


@pytest.mark.parametrize("mode", MODES)
def test_a_thinker_reply_without_tags_is_the_answer(mode: str) -> None:
    reply = text_reply("Paris is the capital.", "stop", cuts=[3, 9])
    for message in (invoked(reply, THINKER, mode), streamed(reply, THINKER, mode)):
        assert (message.content, reasoning_of(message)) == ("Paris is the capital.", "")


def test_a_thinker_cut_off_before_any_tag_is_unfinished_reasoning() -> None:
    reply = text_reply("Let me think about", "length", cuts=[4])
    for message in (invoked(reply, THINKER, "tags"), streamed(reply, THINKER, "tags")):
        assert (message.content, reasoning_of(message)) == ("", "Let me think about")
        assert message.response_metadata["reasoning_unfinished"] is True
        assert message.response_metadata["finish_reason"] == "length"


def test_a_plain_model_cut_off_keeps_its_answer() -> None:
    reply = text_reply("Half an ans", "length", cuts=[4])
    for message in (invoked(reply, PLAIN, "leading_tag"), streamed(reply, PLAIN, "leading_tag")):
        assert (message.content, reasoning_of(message)) == ("Half an ans", "")
        assert "reasoning_unfinished" not in message.response_metadata


# -- the same through ChatNebula and real sockets -------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(reply=replies(), model=st.sampled_from([THINKER, PLAIN, "Qwen/Qwen3-8B"]))
def test_chatnebula_invoke_and_stream_agree_over_http(
    server: ScriptedServer, make_model: Make, reply: dict[str, Any], model: str
) -> None:
    server.reply_json(completion_body(reply, model))
    server.reply_stream(stream_events(reply, model))
    chat = make_model(model=model, include_response_headers=False)
    by_invoke = chat.invoke("?")
    by_stream = reduce(add, chat.stream("?"))
    assert (by_invoke.content, reasoning_of(by_invoke)) == (
        by_stream.content,
        reasoning_of(by_stream),
    )
    assert by_invoke.tool_calls == by_stream.tool_calls  # type: ignore[attr-defined]
    assert by_invoke.usage_metadata == by_stream.usage_metadata  # type: ignore[attr-defined]
    assert by_invoke.response_metadata == by_stream.response_metadata


def test_qwen3_with_thinking_turned_off_answers_without_holding_back(
    server: ScriptedServer, make_model: Make
) -> None:
    # With enable_thinking=False the template closes the think block itself: the reply
    # is all answer, and the stream need not wait to find out.
    server.reply_stream(sse(*[chunk({"content": t}) for t in ["Four", " is", " the", " answer."]]))
    chat = make_model(
        model="Qwen/Qwen3-8B", extra_body={"chat_template_kwargs": {"enable_thinking": False}}
    )
    texts = [c.text for c in chat.stream("2+2?") if c.text]
    assert texts == ["Four", " is", " the", " answer."]
