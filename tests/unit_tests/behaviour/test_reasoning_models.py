"""Reasoning models: fields, <think> tags (split anywhere), v1 blocks, history, profiles."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from functools import reduce
from operator import add
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage

from langchain_nebula import ChatNebula
from tests.scripted_server import ScriptedServer, chunk, completion, sse
from tests.stream_helpers import run_stream

Make = Callable[..., ChatNebula]
R1 = "deepseek-ai/DeepSeek-R1"
LLAMA = "meta-llama/Llama-3.3-70B-Instruct"


def think_completion(content: str, **message: Any) -> dict[str, Any]:
    return completion(content, model=R1, **message)


def test_reasoning_content_field_is_separated(server: ScriptedServer, make_model: Make) -> None:
    server.reply_json(think_completion("Paris.", reasoning_content="The capital of France..."))
    message = make_model(model=R1).invoke("Capital of France?")
    assert message.content == "Paris."
    assert message.additional_kwargs["reasoning_content"] == "The capital of France..."
    assert message.content_blocks[0] == {
        "type": "reasoning",
        "reasoning": "The capital of France...",
    }
    assert message.content_blocks[1]["type"] == "text"


def test_newer_vllm_reasoning_field_is_separated(server: ScriptedServer, make_model: Make) -> None:
    server.reply_json(completion("4", reasoning="2+2 is 4"))
    message = make_model(model="some/new-reasoner").invoke("2+2?")
    assert (message.content, message.additional_kwargs["reasoning_content"]) == ("4", "2+2 is 4")


@pytest.mark.parametrize(
    "content",
    [
        "<think>\nFrance's capital is Paris.\n</think>\n\nParis.",
        "France's capital is Paris.\n</think>\n\nParis.",  # the template opened the tag
        "  <think>France's capital is Paris.</think>Paris.",
    ],
)
def test_think_tags_in_content_are_split(
    server: ScriptedServer, make_model: Make, content: str
) -> None:
    server.reply_json(think_completion(content))
    message = make_model(model=R1).invoke("Capital?")
    assert message.content == "Paris."
    assert message.additional_kwargs["reasoning_content"] == "France's capital is Paris."


def test_truncated_thinking_is_all_reasoning(server: ScriptedServer, make_model: Make) -> None:
    server.reply_json(
        think_completion("<think>Let me think about this for a", finish_reason="length")
    )
    message = make_model(model=R1).invoke("Hard question")
    assert message.content == ""
    assert message.additional_kwargs["reasoning_content"] == "Let me think about this for a"


def test_a_model_that_does_not_reason_is_never_split(
    server: ScriptedServer, make_model: Make
) -> None:
    literal = "In XML you close it with </think> like any tag."
    server.reply_json(completion(literal, model=LLAMA))
    message = make_model(model=LLAMA).invoke("How do I close a think tag?")
    assert message.content == literal
    assert "reasoning_content" not in message.additional_kwargs


def test_reasoning_parser_none_leaves_everything_as_sent(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(think_completion("<think>hmm</think>ok", reasoning_content=" field\n"))
    message = make_model(model=R1, reasoning_parser="none").invoke("?")
    assert message.content == "<think>hmm</think>ok"
    # A reasoning field is still the server's words: passed through, not dropped.
    assert message.additional_kwargs == {"reasoning_content": " field\n"}


def test_reasoning_parser_think_tags_applies_to_any_model(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(completion("pondering</think>done", model="my/finetune"))
    message = make_model(model="my/finetune", reasoning_parser="think_tags").invoke("?")
    assert (message.content, message.additional_kwargs["reasoning_content"]) == (
        "done",
        "pondering",
    )


def test_field_parser_on_a_tag_model_leaves_tags(server: ScriptedServer, make_model: Make) -> None:
    server.reply_json(think_completion("pondering</think>done"))
    assert (
        make_model(model=R1, reasoning_parser="field").invoke("?").content
        == "pondering</think>done"
    )


def test_reasoning_token_counts_map_to_output_details(
    server: ScriptedServer, make_model: Make
) -> None:
    usage = {
        "prompt_tokens": 5,
        "completion_tokens": 40,
        "total_tokens": 45,
        "completion_tokens_details": {"reasoning_tokens": 32},
    }
    server.reply_json(think_completion("hm</think>ok", usage=usage))
    usage_metadata = make_model(model=R1).invoke("?").usage_metadata
    assert usage_metadata is not None
    assert usage_metadata["output_token_details"] == {"reasoning": 32}


def test_streamed_reasoning_fields_arrive_as_produced(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_stream(
        sse(
            chunk({"role": "assistant", "content": ""}, model=R1),
            chunk({"reasoning_content": "First, "}, model=R1),
            chunk({"reasoning_content": "think."}, model=R1),
            chunk({"content": "Answer."}, model=R1),
            chunk({}, finish_reason="stop", model=R1),
        )
    )
    chunks = list(make_model(model=R1).stream("?"))
    # Trailing whitespace is held until text follows it (dropped if the section ends).
    assert chunks[0].additional_kwargs == {"reasoning_content": "First,"}
    assert chunks[1].additional_kwargs == {"reasoning_content": " think."}
    merged = reduce(add, chunks)
    assert (merged.content, merged.additional_kwargs["reasoning_content"]) == (
        "Answer.",
        "First, think.",
    )


def test_streamed_reasoning_after_an_opening_tag_arrives_as_produced(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_stream(
        sse(
            *[
                chunk({"content": text}, model=R1)
                for text in ["<think>Step one. ", "Step two.", "</think>", "Done."]
            ]
        )
    )
    chunks = list(make_model(model=R1).stream("?"))
    assert chunks[0].additional_kwargs["reasoning_content"] == "Step one."
    assert chunks[0].text == ""
    merged = reduce(add, chunks)
    assert (merged.text, merged.additional_kwargs["reasoning_content"]) == (
        "Done.",
        "Step one. Step two.",
    )


def test_streamed_reasoning_without_an_opening_tag_is_held_until_it_closes(
    server: ScriptedServer, make_model: Make
) -> None:
    # Until </think> arrives the text could be the answer (a reply that never thinks),
    # so it is held back rather than shown as reasoning and then taken back.
    server.reply_stream(
        sse(
            *[
                chunk({"content": text}, model=R1)
                for text in ["Step one. ", "Step two.", "</think>", "Done."]
            ]
        )
    )
    chunks = [c for c in make_model(model=R1).stream("?") if c.text or c.additional_kwargs]
    assert [(c.additional_kwargs.get("reasoning_content"), c.text) for c in chunks] == [
        ("Step one. Step two.", ""),
        (None, "Done."),
    ]


def test_history_reasoning_is_not_sent_back_by_default(
    server: ScriptedServer, make_model: Make
) -> None:
    earlier = AIMessage("Paris.", additional_kwargs={"reasoning_content": "capital..."})
    history = [HumanMessage("Capital?"), earlier, HumanMessage("And Italy?")]
    for option in (False, True):
        server.reply_json(think_completion("Rome."))
        make_model(model=R1, reasoning_in_history=option).invoke(history)
    default, opted_in = (request.json["messages"][1] for request in server.requests)
    assert default == {"role": "assistant", "content": "Paris."}
    assert opted_in == {"role": "assistant", "content": "Paris.", "reasoning_content": "capital..."}


def test_v1_output_puts_standard_blocks_in_content(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(think_completion("<think>why</think>because"))
    message = make_model(model=R1, output_version="v1").invoke("?")
    assert message.content == [
        {"type": "reasoning", "reasoning": "why"},
        {"type": "text", "text": "because"},
    ]


def test_v1_output_in_a_stream(server: ScriptedServer, make_model: Make) -> None:
    server.reply_stream(
        sse(*[chunk({"content": text}, model=R1) for text in ["wh", "y</thi", "nk>bec", "ause"]])
    )
    merged = reduce(add, make_model(model=R1, output_version="v1").stream("?"))
    blocks = merged.content_blocks
    assert [b["type"] for b in blocks] == ["reasoning", "text"]
    assert blocks[0]["reasoning"] == "why"  # type: ignore[typeddict-item]
    assert blocks[1]["text"] == "because"  # type: ignore[typeddict-item]


def test_v1_ai_messages_convert_back_to_the_wire(server: ScriptedServer, make_model: Make) -> None:
    earlier = AIMessage(
        content=[
            {"type": "reasoning", "reasoning": "think"},
            {"type": "text", "text": "Sure."},
            {"type": "tool_call", "name": "f", "args": {"x": 1}, "id": "c1"},
        ],
        tool_calls=[{"name": "f", "args": {"x": 1}, "id": "c1"}],
    )
    server.reply_json(completion("ok"))
    make_model().invoke([HumanMessage("go"), earlier, HumanMessage("again")])
    assert server.requests[0].json["messages"][1] == {
        "role": "assistant",
        "content": "Sure.",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}
        ],
    }


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (R1, {"reasoning_output": True}),
        (
            "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
            {"max_input_tokens": 32768, "max_output_tokens": 10000},
        ),
        ("Qwen/Qwen2.5-VL-7B-Instruct", {"image_inputs": True}),
        ("Qwen/QwQ-32B", {"reasoning_output": True}),
    ],
)
def test_known_models_have_profiles(model: str, expected: dict[str, Any]) -> None:
    profile = ChatNebula(model=model).profile
    assert profile is not None
    assert {k: profile.get(k) for k in expected} == expected


def test_unknown_models_get_what_any_openai_compatible_server_supports() -> None:
    assert ChatNebula(model="someone/brand-new-model").profile == {
        "text_inputs": True,
        "text_outputs": True,
        "tool_calling": True,
        "tool_choice": True,
        "structured_output": True,
    }


# -- property: tag splitting does not depend on where the stream is cut ----------------

REASONING_TEXT = st.text(alphabet="abc xyz.\n", min_size=0, max_size=30)
ANSWER_TEXT = st.text(alphabet="def uvw!\n", min_size=1, max_size=30).filter(lambda s: s.strip())


def run_parser(pieces: list[bytes]) -> list[AIMessageChunk]:
    return [c.message for c in run_stream(pieces, mode="tags")]  # type: ignore[misc]


def stream_body(content: str, cuts: list[int]) -> list[bytes]:
    """Content split at ``cuts`` into deltas, one SSE event per delta."""
    bounds = sorted({0, len(content), *[c % (len(content) + 1) for c in cuts]})
    deltas = [content[a:b] for a, b in itertools.pairwise(bounds)]
    return [b"".join(sse(*[chunk({"content": d}, model=R1) for d in deltas]))]


@settings(max_examples=300, deadline=None)
@given(
    reasoning=REASONING_TEXT,
    answer=ANSWER_TEXT,
    opening=st.sampled_from(["<think>", "", "\n<think>\n"]),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8),
)
def test_tags_split_anywhere_give_the_same_answer_and_no_tag_fragments(
    reasoning: str, answer: str, opening: str, cuts: list[int]
) -> None:
    content = f"{opening}{reasoning}</think>{answer}"
    chunks = run_parser(stream_body(content, cuts))
    for piece in chunks:
        text = piece.text + piece.additional_kwargs.get("reasoning_content", "")
        assert not set(text) & {"<", ">"}, f"tag fragment in {text!r}"
    merged = reduce(add, chunks)
    assert merged.text == answer.lstrip()
    assert merged.additional_kwargs.get("reasoning_content", "") == reasoning.strip()


@pytest.mark.parametrize("tag", ["<think>", "</think>"])
def test_every_split_position_inside_each_tag(tag: str) -> None:
    content = "<think>plan carefully</think>result"
    start = content.index(tag)
    for cut in range(start, start + len(tag) + 1):
        chunks = run_parser(stream_body(content, [cut]))
        merged = reduce(add, chunks)
        assert (merged.text, merged.additional_kwargs["reasoning_content"]) == (
            "result",
            "plan carefully",
        )


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=6))
def test_arbitrary_bytes_give_chunks_or_a_typed_error(body: bytes, cuts: list[int]) -> None:
    from langchain_nebula import NebulaError

    bounds = sorted({0, len(body), *[c % (len(body) + 1) for c in cuts]})
    with contextlib.suppress(NebulaError):
        run_parser([body[a:b] for a, b in itertools.pairwise(bounds)])
