"""Token counting: the server's tokenizer where one answers, an offline estimate otherwise."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from langchain_core.messages import HumanMessage, SystemMessage, trim_messages
from langchain_core.messages.utils import count_tokens_approximately

from langchain_nebula import ChatNebula, NebulaResponseError
from tests.scripted_server import Recorded, Reply, ScriptedServer

Make = Callable[..., ChatNebula]
MESSAGES = [SystemMessage("Be brief."), HumanMessage("How many tokens is this?")]


def _answer(body: object, status: int = 200) -> Reply:
    return Reply(status, {"Content-Type": "application/json"}, json.dumps(body).encode())


def vllm(request: Recorded) -> Reply:
    if request.path == "/tokenize":
        return _answer({"count": 42, "max_model_len": 4096, "tokens": [1] * 42})
    return _answer({"error": {"message": "Not Found"}}, 404)


def llamacpp(request: Recorded) -> Reply:
    if request.path == "/apply-template":
        return _answer({"prompt": "<|system|>Be brief.<|user|>How many tokens is this?"})
    if request.path == "/tokenize":
        content = request.json.get("content")
        return _answer({"tokens": list(range(len(content.split()))) if content else []})
    return _answer({"error": {"message": "File Not Found"}}, 404)


def nothing(request: Recorded) -> Reply:
    return _answer({"detail": "Not Found"}, 404)


def test_a_vllm_server_counts_exactly(server: ScriptedServer, make_model: Make) -> None:
    server.default = vllm
    model = make_model(model="some/model")
    assert model.get_num_tokens_from_messages(MESSAGES) == 42
    sent = server.requests[0]
    assert (sent.path, sent.json["model"], sent.json["add_generation_prompt"]) == (
        "/tokenize",
        "some/model",
        True,
    )
    assert sent.json["messages"][1] == {"role": "user", "content": "How many tokens is this?"}


def test_a_llamacpp_server_counts_its_templated_prompt(
    server: ScriptedServer, make_model: Make
) -> None:
    server.default = llamacpp
    model = make_model()
    assert model.get_num_tokens_from_messages(MESSAGES) == 6  # the fake: words
    assert [r.path for r in server.requests] == ["/tokenize", "/apply-template", "/tokenize"]
    assert server.requests[2].json == {
        "content": "<|system|>Be brief.<|user|>How many tokens is this?",
        "add_special": True,
        "parse_special": True,
    }
    model.get_num_tokens_from_messages(MESSAGES)  # it remembers which protocol answered
    assert [r.path for r in server.requests[3:]] == ["/apply-template", "/tokenize"]
    assert model.get_num_tokens("one two three") == 3
    assert server.requests[-1].json == {
        "content": "one two three",
        "add_special": False,
        "parse_special": False,
    }


def test_without_a_tokenizer_the_count_is_the_offline_estimate(
    server: ScriptedServer, make_model: Make
) -> None:
    server.default = nothing
    model = make_model()
    assert model.get_num_tokens_from_messages(MESSAGES) == count_tokens_approximately(MESSAGES)
    asked = len(server.requests)
    assert model.get_num_tokens_from_messages(MESSAGES) == count_tokens_approximately(MESSAGES)
    assert len(server.requests) == asked  # found out once, not asked again
    assert model.get_num_tokens("x" * 41) == 11


def test_approximate_counting_sends_nothing(server: ScriptedServer, make_model: Make) -> None:
    model = make_model(token_counting="approximate")
    assert model.get_num_tokens_from_messages(MESSAGES) == count_tokens_approximately(MESSAGES)
    assert server.requests == []


def test_server_counting_without_a_tokenizer_is_an_error(
    server: ScriptedServer, make_model: Make
) -> None:
    server.default = nothing
    with pytest.raises(NebulaResponseError, match=r"answered no tokenizer endpoint"):
        make_model(token_counting="server").get_num_tokens_from_messages(MESSAGES)


def test_a_custom_tokenizer_takes_precedence(server: ScriptedServer, make_model: Make) -> None:
    model = make_model(custom_get_token_ids=lambda text: [0] * len(text))
    assert model.get_num_tokens("abcd") == 4
    assert server.requests == []


def test_trim_messages_works_offline_with_the_model_as_counter(
    server: ScriptedServer, make_model: Make
) -> None:
    server.default = nothing
    history = [HumanMessage(f"message number {i} " * 5) for i in range(20)]
    kept = trim_messages(history, max_tokens=60, token_counter=make_model(), strategy="last")
    assert 0 < len(kept) < len(history)
    assert kept[-1] == history[-1]


def test_fractional_summarisation_triggers_need_and_get_a_context_size() -> None:
    from langchain.agents.middleware import SummarizationMiddleware

    middleware = SummarizationMiddleware(
        ChatNebula(model="meta-llama/Llama-3.3-70B-Instruct", api_key="ak_x"),
        trigger=("fraction", 0.8),
    )
    assert middleware is not None
