"""Recorded real servers, replayed: what llama.cpp and LiteLLM really send, read right.

``tests/fixtures/transcripts/`` holds exact exchanges with a real llama.cpp server and a
real LiteLLM proxy in front of it (``make transcripts`` records them again). Each is
replayed here through the scripted server, byte for byte, and read by ChatNebula as a
user would call it. Invoke and stream recordings of the same request must give the
same answer; error recordings must give the right class, words and retry decision.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import reduce
from operator import add
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk

from langchain_nebula import (
    ChatNebula,
    NebulaAuthenticationError,
    NebulaBadRequestError,
    NebulaContextOverflowError,
    NebulaError,
    NebulaNotFoundError,
    NebulaRateLimitError,
    NebulaServerError,
)
from langchain_nebula.catalog import list_models
from tests.litellm_proxy import VISION_MODEL
from tests.scripted_server import Reply, ScriptedServer

ROOT = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "transcripts"
TRANSCRIPTS = sorted(ROOT.glob("*/*.json"))
Make = Callable[..., ChatNebula]
# Headers the scripted server writes itself, or that describe the recorded framing.
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "date", "server"})


def load(name: str) -> dict[str, Any]:
    return json.loads((ROOT / f"{name}.json").read_text())


def recorded_headers(response: dict[str, Any]) -> list[tuple[str, str]]:
    """The response headers as recorded: "name: value" lines (or [name, value] pairs)."""
    pairs = []
    for line in response["headers"]:
        name, _, value = line.partition(": ") if isinstance(line, str) else (line[0], "", line[1])
        pairs.append((name, value))
    return pairs


def reply_for(response: dict[str, Any]) -> Reply:
    headers = {
        name: value for name, value in recorded_headers(response) if name.lower() not in _FRAMING
    }
    if "body_lines" in response:
        body = "\n".join(response["body_lines"]).encode()
        events = [piece + b"\n\n" for piece in body.split(b"\n\n") if piece]
        return Reply(response["status"], headers, pieces=events)
    return Reply(response["status"], headers, response["body"].encode())


def call(model: ChatNebula, request: dict[str, Any]) -> AIMessage:
    """Sends the recorded request as a user would, through invoke or stream."""
    body = dict(request["json"])
    messages = [(m["role"], m["content"]) for m in body.pop("messages")]
    streaming = body.pop("stream", False)
    body.pop("stream_options", None)
    for field in ("model", "max_tokens", "temperature", "seed"):
        body.pop(field, None)
    if streaming:
        merged = reduce(add, model.stream(messages, **body))
        assert isinstance(merged, AIMessageChunk)
        return merged
    return model.invoke(messages, **body)


def replayed(server: ScriptedServer, name: str, **options: Any) -> AIMessage:
    """Replays a recording; a recording of several exchanges is several calls."""
    transcript = load(name)
    answer: AIMessage | None = None
    for exchange in transcript["exchanges"]:
        server.replies.append(reply_for(exchange["response"]))
        request = exchange["request"]
        model = ChatNebula(
            base_url=server.base_url,
            api_key="sk-nebula-test-master-key",
            model=request["json"]["model"],
            max_tokens=request["json"].get("max_tokens"),
            temperature=request["json"].get("temperature"),
            seed=request["json"].get("seed"),
            **options,
        )
        answer = call(model, request)
    assert answer is not None
    return answer


def test_every_transcript_is_replayed_by_some_test() -> None:
    names = {f"{p.parent.name}/{p.stem}" for p in TRANSCRIPTS}
    covered = (
        {
            f"{t}/{s}_{way}"
            for t in ("litellm", "llamacpp")
            for s, _ in PAIRS
            for way in ("invoke", "stream")
        }
        | {f"{t}/{s}" for t, s in [(c[0], c[1]) for c in ERRORS]}
        | {f"{t}/{s}" for t in ("litellm", "llamacpp") for s in SUCCESSES}
        | {f"{t}/models_list" for t in ("litellm", "llamacpp")}
        | {f"{t}/vision_counted" for t in ("litellm", "llamacpp")}
        | {n for n in names if "/embeddings_" in n}  # replayed by the embeddings tests
    )
    assert names <= covered, sorted(names - covered)


# -- invoke and stream of the same request agree --------------------------------------

PAIRS = [
    ("text", "a plain answer"),
    ("reasoning", "R1's <think>…</think>answer: LiteLLM moves it to a field on invoke only"),
    ("reasoning_no_open_tag", "the template opened <think>: no opening tag in the reply"),
    ("tool_call", "a named tool call"),
    ("json_schema", "grammar-constrained JSON"),
    ("vision", "an image read by llama.cpp's vision tower"),
]


def _read(message: AIMessage) -> dict[str, Any]:
    return {
        "content": message.content,
        "reasoning": message.additional_kwargs.get("reasoning_content", ""),
        "tool_calls": [(c["name"], c["args"]) for c in message.tool_calls],
        "finish_reason": message.response_metadata.get("finish_reason"),
        "model_name": message.response_metadata.get("model_name"),
    }


@pytest.mark.parametrize("target", ["litellm", "llamacpp"])
@pytest.mark.parametrize(("scenario", "shows"), PAIRS, ids=[p[0] for p in PAIRS])
def test_invoke_and_stream_recordings_give_the_same_answer(
    server: ScriptedServer, target: str, scenario: str, shows: str
) -> None:
    by_invoke = _read(replayed(server, f"{target}/{scenario}_invoke"))
    by_stream = _read(replayed(server, f"{target}/{scenario}_stream"))
    assert by_invoke == by_stream, shows
    # Reasoning is found when the reply marks it: an opening <think>, or a </think>
    # from a model known to think in tags (LiteLLM's alias is an R1 id; llama.cpp's
    # recordings name SmolLM2, so a bare </think> there is text of the answer).
    marked = scenario == "reasoning" or (
        scenario == "reasoning_no_open_tag" and target == "litellm"
    )
    if marked:
        assert by_invoke["reasoning"]
        assert "think>" not in by_invoke["content"]
    elif scenario.startswith("reasoning"):
        assert (by_invoke["reasoning"], "</think>" in by_invoke["content"]) == ("", True)


def test_a_bare_closing_tag_is_split_when_the_user_says_the_model_thinks(
    server: ScriptedServer,
) -> None:
    message = replayed(
        server, "llamacpp/reasoning_no_open_tag_invoke", reasoning_parser="think_tags"
    )
    assert message.additional_kwargs["reasoning_content"].startswith("Hello there")
    assert message.content.startswith("I'm a chatbot")


def test_litellm_moves_reasoning_to_a_field_on_invoke_and_leaves_tags_in_streams() -> None:
    invoke = load("litellm/reasoning_invoke")["exchanges"][0]["response"]
    message = json.loads(invoke["body"])["choices"][0]["message"]
    assert message["reasoning_content"]
    assert "<think>" not in (message["content"] or "")
    stream = load("litellm/reasoning_stream")["exchanges"][0]["response"]
    deltas = "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        for line in stream["body_lines"]
        if line.startswith("data: {") and json.loads(line[6:]).get("choices")
    )
    assert deltas.startswith("<think>")


SUCCESSES = [
    "unknown_model",  # llama.cpp serves its one model whatever the id (LiteLLM: below)
    "unknown_model_stream",
    "stream_options_without_stream",
    "text_stream_without_usage",
    "logprobs_invoke",
    "tool_choice_without_tools",
    "reasoning_openai_provider_invoke",
    "vision_url_invoke",  # llama.cpp fetched the image itself
]


@pytest.mark.parametrize(
    "name",
    [
        f"{target}/{scenario}"
        for target in ("litellm", "llamacpp")
        for scenario in SUCCESSES
        if (ROOT / target / f"{scenario}.json").exists()
        # LiteLLM refuses an unknown model: an error recording, tested below.
        and not (target == "litellm" and scenario.startswith("unknown_model"))
    ],
)
def test_other_successful_recordings_read_as_answers(server: ScriptedServer, name: str) -> None:
    message = replayed(server, name)
    assert isinstance(message.content, str)
    assert message.content or message.additional_kwargs.get("reasoning_content")
    assert message.response_metadata["model_provider"] == "nebula"


@pytest.mark.parametrize("target", ["litellm", "llamacpp"])
def test_model_listings_are_read(server: ScriptedServer, target: str) -> None:
    server.replies.append(reply_for(load(f"{target}/models_list")["exchanges"][0]["response"]))
    models = list_models(url=f"{server.base_url}/models", api_key=None)
    assert models
    if target == "litellm":
        llama = next(m for m in models if m.id == "meta-llama/Llama-3.3-70B-Instruct")
        assert llama.profile()["max_input_tokens"] == 4096  # the proxy's published limit
    else:
        assert models[0].context_length == 8192  # llama.cpp's loaded context


# -- errors: the right class, the server's words, the right retry decision -------------

# (target, scenario, class, retried, the start of the message users see)
ERRORS: list[tuple[str, str, type[NebulaError], bool, str]] = [
    (
        "litellm",
        "unknown_model",
        NebulaNotFoundError,
        False,
        "Invalid model name passed in model=nebula-test/no-such-model.",
    ),
    (
        "litellm",
        "unknown_model_stream",
        NebulaNotFoundError,
        False,
        "Invalid model name passed in model=nebula-test/no-such-model.",
    ),
    (
        "litellm",
        "context_window_precall",
        NebulaContextOverflowError,
        False,
        "Context Window exceeded for given call.",
    ),
    (
        "litellm",
        "context_overflow_backend",
        NebulaContextOverflowError,
        False,
        "request (10031 tokens) exceeds the available context size (8192 tokens)",
    ),
    (
        "litellm",
        "context_overflow_backend_stream",
        NebulaContextOverflowError,
        False,
        "request (10031 tokens) exceeds the available context size (8192 tokens)",
    ),
    (
        "llamacpp",
        "context_overflow_backend",
        NebulaContextOverflowError,
        False,
        "request (10031 tokens) exceeds the available context size (8192 tokens)",
    ),
    (
        "llamacpp",
        "context_overflow_backend_stream",
        NebulaContextOverflowError,
        False,
        "request (10031 tokens) exceeds the available context size (8192 tokens)",
    ),
    (
        "litellm",
        "image_to_text_backend",
        NebulaBadRequestError,
        False,
        "image input is not supported",
    ),
    (
        "litellm",
        "image_to_text_backend_default_retries",
        NebulaBadRequestError,
        False,
        "image input is not supported",
    ),
    (
        "litellm",
        "image_to_text_backend_stream",
        NebulaBadRequestError,
        False,
        "image input is not supported",
    ),
    (
        "llamacpp",
        "image_to_text_backend",
        NebulaBadRequestError,
        False,
        "image input is not supported",
    ),
    (
        "llamacpp",
        "image_to_text_backend_stream",
        NebulaBadRequestError,
        False,
        "image input is not supported",
    ),
    (
        "litellm",
        "bad_response_format",
        NebulaBadRequestError,
        False,
        "response_format type must be one of",
    ),
    (
        "llamacpp",
        "bad_response_format",
        NebulaBadRequestError,
        False,
        "response_format type must be one of",
    ),
    (
        "litellm",
        "vision_corrupt_image",
        NebulaBadRequestError,
        False,
        "Failed to load image or audio file",
    ),
    (
        "litellm",
        "vision_corrupt_image_stream",
        NebulaBadRequestError,
        False,
        "Failed to load image or audio file",
    ),
    (
        "litellm",
        "vision_unsupported_format",
        NebulaBadRequestError,
        False,
        "Failed to load image or audio file",
    ),
    (
        "litellm",
        "vision_oversized_image",
        NebulaBadRequestError,
        False,
        "Failed to load image or audio file",
    ),
    ("litellm", "vision_url_not_found", NebulaServerError, True, "Failed to download image"),
    (
        "llamacpp",
        "vision_corrupt_image",
        NebulaBadRequestError,
        False,
        "Failed to load image or audio file",
    ),
    (
        "llamacpp",
        "vision_corrupt_image_stream",
        NebulaBadRequestError,
        False,
        "Failed to load image or audio file",
    ),
    (
        "llamacpp",
        "vision_unsupported_format",
        NebulaBadRequestError,
        False,
        "Failed to load image or audio file",
    ),
    (
        "llamacpp",
        "vision_oversized_image",
        NebulaBadRequestError,
        False,
        "Failed to load image or audio file",
    ),
    ("llamacpp", "vision_url_not_found", NebulaServerError, True, "Failed to download image"),
    (
        "litellm",
        "image_to_text_alias",
        NebulaBadRequestError,
        False,
        "image input is not supported",
    ),
    ("litellm", "backend_down", NebulaServerError, True, "Cannot connect to host"),
    ("litellm", "backend_down_default_retries", NebulaServerError, True, "Cannot connect to host"),
    ("litellm", "backend_down_stream", NebulaServerError, True, "Cannot connect to host"),
    ("litellm", "bad_key", NebulaAuthenticationError, False, ""),
    ("litellm", "bad_key_stream", NebulaAuthenticationError, False, ""),
    ("litellm", "missing_key", NebulaAuthenticationError, False, ""),
    ("litellm", "rate_limited_key", NebulaRateLimitError, True, "Rate limit exceeded for api_key"),
    (
        "litellm",
        "rpm_limit_alias",
        NebulaRateLimitError,
        True,
        "No deployments available for selected model.",
    ),
]


@pytest.mark.parametrize(
    ("target", "scenario", "cls", "retried", "words"),
    ERRORS,
    ids=[f"{e[0]}-{e[1]}" for e in ERRORS],
)
def test_error_recordings_give_the_right_error(
    server: ScriptedServer,
    target: str,
    scenario: str,
    cls: type[NebulaError],
    retried: bool,
    words: str,
) -> None:
    with pytest.raises(NebulaError) as caught:
        replayed(server, f"{target}/{scenario}", max_retries=0)
    error = caught.value
    assert type(error) is cls
    assert error.retryable is retried
    assert error.message.removeprefix("error event in stream: ").startswith(words)
    assert "LiteLLM:" not in error.message  # the proxy's boilerplate is gone...
    if error.raw_message and target == "litellm" and error.status_code != 401:
        assert error.raw_message.startswith(
            ("litellm.", "/chat", "Rate", "No deploy")
        )  # ...kept here


@pytest.mark.parametrize("target", ["litellm", "llamacpp"])
def test_the_recorded_image_is_counted_in_usage(server: ScriptedServer, target: str) -> None:
    # The same prompt without, then with, the image: the projector's 4 image tokens.
    transcript = load(f"{target}/vision_counted")
    counts = []
    for exchange in transcript["exchanges"]:
        server.replies.append(reply_for(exchange["response"]))
        model = ChatNebula(base_url=server.base_url, api_key="sk-x", model=VISION_MODEL)
        reply = call(model, exchange["request"])
        assert reply.usage_metadata is not None
        counts.append(reply.usage_metadata["input_tokens"])
    assert counts[1] == counts[0] + 4


def test_a_retried_recording_is_sent_again(server: ScriptedServer) -> None:
    transcript = load("litellm/backend_down")
    response = transcript["exchanges"][0]["response"]
    server.replies.append(reply_for(response))
    server.replies.append(reply_for(load("litellm/text_invoke")["exchanges"][0]["response"]))
    server.replies.append(reply_for(load("litellm/text_invoke")["exchanges"][0]["response"]))
    model = ChatNebula(base_url=server.base_url, api_key="sk-x", max_retries=1)
    assert model.invoke("Hi").content
    assert len(server.requests) == 2


def test_a_proxy_call_id_is_the_request_id(server: ScriptedServer) -> None:
    with pytest.raises(NebulaNotFoundError) as caught:
        replayed(server, "litellm/unknown_model", max_retries=0)
    response = load("litellm/unknown_model")["exchanges"][0]["response"]
    assert caught.value.request_id == dict(recorded_headers(response))["x-litellm-call-id"]


def test_response_headers_from_the_proxy_are_reported(server: ScriptedServer) -> None:
    message = replayed(server, "litellm/text_invoke", include_response_headers=True)
    headers = message.response_metadata["headers"]
    assert "x-litellm-call-id" in headers
    assert headers["x-litellm-model-group"] == "meta-llama/Llama-3.3-70B-Instruct"
