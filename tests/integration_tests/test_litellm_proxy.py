"""ChatNebula through a real LiteLLM proxy: what Nebula's proxy layer adds to the wire.

The proxy (tests/litellm_proxy.py) serves Nebula's model ids from the session's
llama.cpp server. These tests pin how ChatNebula reads what LiteLLM itself produces:
reasoning moved out of ``content`` on invoke but not on stream, its error bodies and
statuses, its rate-limit headers. Reasoning replies are forced into DeepSeek-R1's
shape with a llama.cpp grammar, so they do not depend on the 135M model's judgement.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import reduce
from operator import add
from typing import Any

import pytest
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage, AIMessageChunk
from pydantic import BaseModel, Field

from langchain_nebula import (
    ChatNebula,
    NebulaAuthenticationError,
    NebulaBadRequestError,
    NebulaContextOverflowError,
    NebulaNotFoundError,
    NebulaRateLimitError,
    NebulaServerError,
)
from tests.litellm_proxy import (
    BACKEND_DOWN_MODEL,
    MASTER_KEY,
    RATE_LIMITED_KEY,
    REASONING_MODEL,
    RPM_LIMITED_MODEL,
    TEXT_MODEL,
    USER_KEY,
    VISION_MISROUTED_MODEL,
    r1_grammar,
)

PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
    "z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


ModelFactory = Callable[..., ChatNebula]


@pytest.fixture
def proxied(litellm_base_url: str) -> ModelFactory:
    """Builds a ChatNebula aimed at the proxy: master key, text alias, no retries."""

    def make(**kwargs: Any) -> ChatNebula:
        options: dict[str, Any] = {
            "base_url": litellm_base_url,
            "api_key": MASTER_KEY,
            "model": TEXT_MODEL,
            "temperature": 0,
            "max_tokens": 8,
            "max_retries": 0,
        }
        return ChatNebula(**{**options, **kwargs})

    return make


def _invoke_and_stream(model: ChatNebula, prompt: str) -> tuple[AIMessage, AIMessageChunk]:
    invoked = model.invoke(prompt)
    streamed = reduce(add, model.stream(prompt))
    assert isinstance(streamed, AIMessageChunk)
    return invoked, streamed


def test_the_second_valid_key_is_accepted(proxied: ModelFactory) -> None:
    reply = proxied(api_key=USER_KEY).invoke("Say hi.")
    assert reply.content
    assert reply.response_metadata["model_name"] == TEXT_MODEL  # the alias, not the backend


@pytest.mark.parametrize("open_tag", [True, False], ids=["think_open_tag", "no_open_tag"])
def test_reasoning_alias_splits_reasoning_from_answer_on_invoke_and_stream(
    proxied: ModelFactory, open_tag: bool
) -> None:
    # LiteLLM moves <think>…</think> into reasoning_content on invoke only; the stream
    # carries the raw tags, split into pieces as small as "<", "t", "h", "ink", ">".
    grammar = r1_grammar(open_tag=open_tag, thought=40, answer=30)
    model = proxied(model=REASONING_MODEL, max_tokens=48, model_kwargs={"grammar": grammar})
    invoked, streamed = _invoke_and_stream(model, "Say hello.")
    for reply in (invoked, streamed):
        assert reply.additional_kwargs.get("reasoning_content")
        assert reply.content
        assert "think>" not in reply.text
        assert "think>" not in reply.additional_kwargs["reasoning_content"]


@pytest.mark.parametrize(
    "open_tag",
    [pytest.param(True, id="think_open_tag"), pytest.param(False, id="no_open_tag")],
)
def test_reasoning_alias_invoke_and_stream_agree(proxied: ModelFactory, open_tag: bool) -> None:
    grammar = r1_grammar(open_tag=open_tag, thought=40, answer=30)
    model = proxied(model=REASONING_MODEL, max_tokens=48, model_kwargs={"grammar": grammar})
    invoked, streamed = _invoke_and_stream(model, "Say hello.")
    assert streamed.text == invoked.text
    assert streamed.additional_kwargs.get("reasoning_content") == invoked.additional_kwargs.get(
        "reasoning_content"
    )


def test_bad_key_raises_authentication_error(proxied: ModelFactory) -> None:
    with pytest.raises(NebulaAuthenticationError) as caught:
        proxied(api_key="sk-nebula-test-wrong-key").invoke("Hi")
    assert caught.value.status_code == 401
    assert "Invalid proxy server token" in caught.value.message


def test_rate_limited_key_raises_rate_limit_error_with_retry_after(
    proxied: ModelFactory,
) -> None:
    with pytest.raises(NebulaRateLimitError) as caught:
        proxied(api_key=RATE_LIMITED_KEY).invoke("Hi")
    assert caught.value.status_code == 429
    assert caught.value.retry_after == 60  # LiteLLM's limiter: retry-after: 60
    assert caught.value.request_id  # x-litellm-call-id


def test_rpm_limited_alias_raises_rate_limit_error_once_used_up(
    proxied: ModelFactory,
) -> None:
    model = proxied(model=RPM_LIMITED_MODEL, max_tokens=2)
    model.invoke("Hi")  # the one request this minute
    with pytest.raises(NebulaRateLimitError) as caught:
        model.invoke("Hi")
    assert caught.value.status_code == 429
    assert "No deployments available" in caught.value.message


def test_unknown_model_is_not_found_in_the_servers_words(proxied: ModelFactory) -> None:
    # LiteLLM answers 400, never 404: the words say what it is.
    with pytest.raises(NebulaNotFoundError) as caught:
        proxied(model="nebula-test/no-such-model").invoke("Hi")
    assert caught.value.status_code == 400
    assert caught.value.message == "Invalid model name passed in model=nebula-test/no-such-model."
    assert caught.value.retryable is False


def test_prompt_over_published_limit_raises_context_overflow(
    proxied: ModelFactory,
) -> None:
    # Above the alias's max_input_tokens (4096), below the backend's context (8192).
    with pytest.raises(NebulaContextOverflowError) as caught:
        proxied().invoke("The river flows past the old mill. " * 700)
    assert caught.value.status_code == 400


def test_prompt_over_backend_context_raises_context_overflow(
    proxied: ModelFactory,
) -> None:
    # Within the R1 alias's published 32768 tokens, above the backend's 8192.
    with pytest.raises(NebulaContextOverflowError) as caught:
        proxied(model=REASONING_MODEL).invoke("river lake " * 5000)
    assert caught.value.status_code == 400
    assert "exceeds the available context size" in caught.value.message


def test_an_image_to_a_text_only_backend_is_refused_at_once(proxied: ModelFactory) -> None:
    message = {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in this image?"},
            {"type": "image_url", "image_url": {"url": PIXEL}},
        ],
    }
    started = time.monotonic()
    with pytest.raises(NebulaBadRequestError) as caught:
        proxied(model=VISION_MISROUTED_MODEL, max_retries=3).invoke([message])
    # A 500, but the words say the request itself can never succeed: not retried (three
    # retries would have waited 0.5 + 1 + 2 s).
    assert time.monotonic() - started < 3.0
    assert caught.value.status_code == 500
    assert caught.value.retryable is False
    assert caught.value.message.startswith("image input is not supported")
    assert caught.value.raw_message is not None
    assert caught.value.raw_message.startswith("litellm.InternalServerError")


def test_response_headers_through_the_proxy(proxied: ModelFactory) -> None:
    model = proxied(include_response_headers=True, max_tokens=4)
    invoked = model.invoke("Hi").response_metadata["headers"]
    first_chunk = next(iter(model.stream("Hi"))).response_metadata["headers"]
    for headers in (invoked, first_chunk):
        assert headers["x-litellm-call-id"]
        assert headers["x-litellm-model-group"] == "meta-llama/Llama-3.3-70B-Instruct"


def test_backend_down_raises_server_error(proxied: ModelFactory) -> None:
    with pytest.raises(NebulaServerError) as caught:
        proxied(model=BACKEND_DOWN_MODEL).invoke("Hi")
    assert caught.value.status_code == 500


class _Joke(BaseModel):
    """Joke to tell user."""

    setup: str = Field(description="question to set up a joke")
    punchline: str = Field(description="answer to resolve the joke")


def test_structured_output_through_the_proxy_invoke_and_stream(proxied: ModelFactory) -> None:
    # Greedy decoding: the standard suite's sampled runs of the 135M model sometimes loop.
    structured = proxied(max_tokens=256, seed=7).with_structured_output(_Joke)
    invoked = structured.invoke("Tell me a joke about cats.")
    streamed = list(structured.stream("Tell me a joke about cats."))
    assert isinstance(invoked, _Joke)
    assert streamed == [invoked]


def test_a_structured_reply_cut_by_max_tokens_is_refused(proxied: ModelFactory) -> None:
    structured = proxied(max_tokens=3).with_structured_output(_Joke)
    with pytest.raises(OutputParserException, match="cut off at the token limit"):
        structured.invoke("Tell me a joke about cats.")
    with pytest.raises(OutputParserException, match="cut off at the token limit"):
        list(structured.stream("Tell me a joke about cats."))
