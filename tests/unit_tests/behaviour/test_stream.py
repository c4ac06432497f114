"""Streaming: chunks as they come, metadata like invoke, usage once, loud failures."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import reduce
from operator import add
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessageChunk

from langchain_nebula import (
    ChatNebula,
    NebulaConnectionError,
    NebulaRateLimitError,
    NebulaStreamError,
)
from tests.scripted_server import (
    Reply,
    ScriptedServer,
    chunk,
    completion,
    sse,
    text_stream,
    tool_delta,
    usage_chunk,
)
from tests.stream_helpers import run_stream

Make = Callable[..., ChatNebula]


def collect(model: ChatNebula, prompt: str = "Hi") -> list[AIMessageChunk]:
    return list(model.stream(prompt))


async def acollect(model: ChatNebula, prompt: str = "Hi") -> list[AIMessageChunk]:
    return [c async for c in model.astream(prompt)]


def test_stream_yields_text_deltas_in_order(server: ScriptedServer, make_model: Make) -> None:
    server.reply_stream(text_stream("Mon", "treal", " is", " great"))
    chunks = collect(make_model())
    assert [c.text for c in chunks if c.text] == ["Mon", "treal", " is", " great"]
    assert reduce(add, chunks).text == "Montreal is great"


def test_stream_request_asks_for_usage_by_default(server: ScriptedServer, make_model: Make) -> None:
    server.reply_stream(text_stream("x"))
    collect(make_model())
    sent = server.requests[0].json
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


def test_stream_usage_false_omits_stream_options(server: ScriptedServer, make_model: Make) -> None:
    server.reply_stream(text_stream("x", usage=False))
    server.reply_stream(text_stream("x", usage=False))
    collect(make_model(stream_usage=False))
    assert "stream_options" not in server.requests[0].json
    list(make_model().stream("Hi", stream_usage=False))
    assert "stream_options" not in server.requests[1].json


def test_usage_is_reported_exactly_once(server: ScriptedServer, make_model: Make) -> None:
    server.reply_stream(text_stream("a", "b"))
    chunks = collect(make_model())
    with_usage = [c for c in chunks if c.usage_metadata]
    assert len(with_usage) == 1
    assert reduce(add, chunks).usage_metadata == {
        "input_tokens": 10,
        "output_tokens": 3,
        "total_tokens": 13,
    }


def test_running_usage_on_every_chunk_counts_once_and_final_wins(
    server: ScriptedServer, make_model: Make
) -> None:
    running = lambda n: {"prompt_tokens": 5, "completion_tokens": n, "total_tokens": 5 + n}  # noqa: E731
    server.reply_stream(
        sse(
            chunk({"role": "assistant", "content": "a"}, usage=running(1)),
            chunk({"content": "b"}, usage=running(2)),
            chunk({}, finish_reason="stop", usage=running(2)),
        )
    )
    merged = reduce(add, collect(make_model()))
    assert merged.usage_metadata == {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}


def test_stream_metadata_matches_invoke(server: ScriptedServer, make_model: Make) -> None:
    server.reply_stream(text_stream("Hello!"))
    server.reply_json(completion("Hello!"))
    model = make_model()
    merged = reduce(add, collect(model))
    invoked = model.invoke("Hi")
    for key in ("finish_reason", "model_name", "model_provider"):
        assert merged.response_metadata[key] == invoked.response_metadata[key]
    assert merged.response_metadata["finish_reason"] == "stop"
    assert merged.response_metadata["model_name"] == "meta-llama/Llama-3.3-70B-Instruct"
    assert merged.id == "chatcmpl-3812731562554b23a32dd80fbb7d0d09"
    assert merged.chunk_position == "last"


def test_nebula_example_chunk_with_role_and_text_together(
    server: ScriptedServer, make_model: Make
) -> None:
    # Nebula's own docs show the first chunk carrying role and text, and no finish chunk.
    server.reply_stream(
        sse(
            chunk(
                {"content": "Yes", "role": "assistant"}, model="meta-llama/Llama-3.1-8B-Instruct"
            ),
            chunk({"content": " setting"}, model="meta-llama/Llama-3.1-8B-Instruct"),
        )
    )
    assert reduce(add, collect(make_model())).text == "Yes setting"


def test_bytes_split_anywhere_give_the_same_chunks(
    server: ScriptedServer, make_model: Make
) -> None:
    body = b"".join(text_stream("héllo", " wörld", "!"))
    server.reply_stream([body[i : i + 3] for i in range(0, len(body), 3)])
    assert reduce(add, collect(make_model())).text == "héllo wörld!"


def test_crlf_line_endings_and_comments_are_accepted(
    server: ScriptedServer, make_model: Make
) -> None:
    body = b"".join(text_stream("a", "b")).replace(b"\n", b"\r\n")
    server.reply_stream([b": keep-alive\r\n\r\n", body])
    assert reduce(add, collect(make_model())).text == "ab"


def test_stream_stops_at_done_and_ignores_what_follows(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_stream([*text_stream("ok"), b"data: {not json}\n\n"])
    assert reduce(add, collect(make_model())).text == "ok"


def test_stream_without_done_raises(server: ScriptedServer, make_model: Make) -> None:
    server.reply_stream(sse(chunk({"content": "partial"}), done=False))
    with pytest.raises(NebulaStreamError, match=r"before \[DONE\]"):
        collect(make_model())


def test_error_event_mid_stream_raises_typed_error(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_stream(
        sse(
            chunk({"content": "par"}),
            {"error": {"message": "Rate limit hit", "type": "rate_limit", "code": "429"}},
        )
    )
    with pytest.raises(NebulaRateLimitError, match="Rate limit hit") as caught:
        collect(make_model())
    assert caught.value.status_code == 429


def test_error_event_without_status_is_a_stream_error(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_stream(sse({"error": {"message": "engine crashed"}}))
    with pytest.raises(NebulaStreamError, match="engine crashed"):
        collect(make_model())


def test_unparseable_event_raises(server: ScriptedServer, make_model: Make) -> None:
    server.reply_stream([b'data: {"choices": [\n\n'])
    with pytest.raises(NebulaStreamError, match="unparseable stream event"):
        collect(make_model())


def test_disconnect_mid_stream_raises_connection_error(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_stream(text_stream("a", "b", "c"), cut_after=2)
    received: list[str] = []

    def consume() -> None:
        received.extend(piece.text for piece in make_model().stream("Hi"))

    with pytest.raises(NebulaConnectionError):
        consume()
    assert "".join(received) == "a"


def test_usage_details_in_stream(server: ScriptedServer, make_model: Make) -> None:
    server.reply_stream(
        sse(
            chunk({"content": "x"}),
            chunk({}, finish_reason="stop"),
            usage_chunk(20, 8, completion_tokens_details={"reasoning_tokens": 5}),
        )
    )
    usage = reduce(add, collect(make_model())).usage_metadata
    assert usage is not None
    assert usage["output_token_details"] == {"reasoning": 5}


def test_streamed_tool_calls_assemble_by_index(server: ScriptedServer, make_model: Make) -> None:
    server.reply_stream(
        sse(
            chunk({"role": "assistant", "content": ""}),
            tool_delta(id="chatcmpl-tool-1", name="add"),
            tool_delta('{"a": 1,'),
            tool_delta(index=1, id="chatcmpl-tool-2", name="mul"),
            tool_delta(' "b": 2}'),
            tool_delta('{"a": 3, "b": 4}', index=1),
            chunk({}, finish_reason="tool_calls"),
        )
    )
    merged = reduce(add, collect(make_model()))
    assert [(c["name"], c["args"], c["id"]) for c in merged.tool_calls] == [
        ("add", {"a": 1, "b": 2}, "chatcmpl-tool-1"),
        ("mul", {"a": 3, "b": 4}, "chatcmpl-tool-2"),
    ]


def test_vllm_named_choice_stream_gives_one_call_with_a_stable_id(
    server: ScriptedServer, make_model: Make
) -> None:
    # Older vLLM with a named tool_choice repeats the name in every chunk and sends no id.
    pieces = ['{"city": ', '"Montreal"', "}"]
    server.reply_stream(sse(*[tool_delta(p, name="weather") for p in pieces]))
    merged = reduce(add, collect(make_model()))
    assert len(merged.tool_calls) == 1
    call = merged.tool_calls[0]
    assert (call["name"], call["args"]) == ("weather", {"city": "Montreal"})
    assert call["id"] == "call_chatcmpl-3812731562554b23a32dd80fbb7d0d09_0"


def test_n_greater_than_one_cannot_stream_and_sends_nothing(
    server: ScriptedServer, make_model: Make
) -> None:
    with pytest.raises(ValueError, match="n > 1"):
        collect(make_model(n=2))
    assert server.requests == []


def test_streaming_true_makes_invoke_stream(server: ScriptedServer, make_model: Make) -> None:
    server.reply_stream(text_stream("stre", "amed"))
    message = make_model(streaming=True).invoke("Hi")
    assert message.content == "streamed"
    assert server.requests[0].json["stream"] is True
    assert message.usage_metadata == {"input_tokens": 10, "output_tokens": 3, "total_tokens": 13}


def test_abandoned_stream_releases_its_connection(server: ScriptedServer, make_model: Make) -> None:
    # One pooled connection and no pool wait: a leaked response would block the next call.
    client = httpx.Client(
        limits=httpx.Limits(max_connections=1), timeout=httpx.Timeout(5, pool=0.5)
    )
    model = make_model(http_client=client)
    server.reply_stream(text_stream("a", "b", "c"))
    server.reply_json(completion("next"))
    for _ in model.stream("Hi"):
        break
    assert model.invoke("Hi").content == "next"


async def test_astream_matches_stream(server: ScriptedServer, make_model: Make) -> None:
    server.reply_stream(text_stream("as", "ync"))
    server.reply_stream(text_stream("as", "ync"))
    model = make_model()
    sync_chunks = collect(model)
    async_chunks = await acollect(model)
    assert [c.text for c in sync_chunks] == [c.text for c in async_chunks]
    assert reduce(add, sync_chunks).response_metadata == reduce(add, async_chunks).response_metadata
    assert server.requests[0].json == server.requests[1].json


async def test_astream_failures_raise_the_same_types(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_stream(sse(chunk({"content": "partial"}), done=False))
    with pytest.raises(NebulaStreamError):
        await acollect(make_model())
    server.reply_stream(text_stream("a", "b"), cut_after=2)
    with pytest.raises(NebulaConnectionError):
        await acollect(make_model())


async def test_astream_abandoned_releases_its_connection(
    server: ScriptedServer, make_model: Make
) -> None:
    client = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=1), timeout=httpx.Timeout(5, pool=0.5)
    )
    model = make_model(http_async_client=client)
    server.reply_stream(text_stream("a", "b", "c"))
    server.reply_json(completion("next"))
    stream = model.astream("Hi")
    async for _ in stream:
        break
    await stream.aclose()
    assert (await model.ainvoke("Hi")).content == "next"
    await client.aclose()


def test_response_headers_arrive_on_the_first_chunk_only(
    server: ScriptedServer, make_model: Make
) -> None:
    server.replies.append(
        Reply(
            200,
            {"Content-Type": "text/event-stream", "x-litellm-call-id": "call-9"},
            pieces=text_stream("a", "b"),
        )
    )
    chunks = list(make_model(include_response_headers=True).stream("Hi"))
    with_headers = [i for i, c in enumerate(chunks) if "headers" in c.response_metadata]
    assert with_headers == [0]
    assert chunks[0].response_metadata["headers"]["x-litellm-call-id"] == "call-9"
    merged = reduce(add, chunks)
    assert merged.response_metadata["headers"]["x-litellm-call-id"] == "call-9"


def test_content_parts_in_a_delta_are_joined(server: ScriptedServer, make_model: Make) -> None:
    server.reply_stream(
        sse(chunk({"content": [{"type": "text", "text": "Hel"}, "lo"]}), chunk({"content": "!"}))
    )
    assert "".join(c.text for c in make_model().stream("Hi")) == "Hello!"


def test_tool_arguments_sent_as_an_object_in_a_stream_are_read(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_stream(
        sse(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": {"city": "Québec"}},
                        }
                    ]
                }
            ),
            chunk({}, finish_reason="tool_calls"),
        )
    )
    merged = reduce(add, make_model().stream("Hi"))
    assert merged.tool_calls == [  # type: ignore[attr-defined]
        {"name": "f", "args": {"city": "Québec"}, "id": "c1", "type": "tool_call"}
    ]


@settings(max_examples=200, deadline=None)
@given(text=st.text(min_size=1, max_size=40), message_id=st.one_of(st.none(), st.text(max_size=20)))
def test_text_chunks_are_exactly_the_validated_objects(text: str, message_id: str | None) -> None:
    from langchain_core.load import dumpd
    from langchain_core.outputs import ChatGenerationChunk

    from langchain_nebula._wire.chunks import TextChunks

    built = TextChunks(message_id)
    fast, slow = (
        built(text),
        ChatGenerationChunk(message=AIMessageChunk(content=text, id=message_id)),
    )
    assert fast == slow
    assert fast.model_dump() == slow.model_dump()
    assert fast.model_dump(exclude_unset=True) == slow.model_dump(exclude_unset=True)
    assert fast.message.model_dump(exclude_unset=True) == slow.message.model_dump(
        exclude_unset=True
    )
    assert dumpd(fast.message) == dumpd(slow.message)
    assert repr(fast) == repr(slow)
    assert (fast + built(text)) == (slow + slow)
    assert fast.message.additional_kwargs is not built(text).message.additional_kwargs  # fresh


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12))
def test_any_chunking_of_a_stream_gives_the_same_chunks(cuts: list[int]) -> None:
    body = b"".join(text_stream("Hé", "llo ", "wörld", "!"))

    def run(pieces: list[bytes]) -> list[tuple[str, Any]]:
        return [(c.text, c.message.usage_metadata) for c in run_stream(pieces)]

    bounds = sorted({0, len(body), *[c % (len(body) + 1) for c in cuts]})
    assert run([body[a:b] for a, b in itertools.pairwise(bounds)]) == run([body])
