"""Tokenizer endpoints' wire bodies and answers, exactly (``_wire.tokenizer``)."""

from __future__ import annotations

from typing import Any

import pytest

from langchain_nebula._wire.tokenizer import (
    llamacpp_template_body,
    llamacpp_tokenize_body,
    read_llamacpp_prompt,
    read_token_count,
    server_root,
    vllm_tokenize_body,
)

MESSAGES = [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize(
    ("base_url", "root"),
    [
        ("https://inference.nebulablock.com/v1", "https://inference.nebulablock.com"),
        ("http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/v1//", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://host/api/v1", "http://host/api"),
        ("http://host/v1x", "http://host/v1x"),
        ("http://host/SANDBOX/", "http://host/SANDBOX"),
    ],
)
def test_the_server_root_is_the_base_url_without_v1(base_url: str, root: str) -> None:
    assert server_root(base_url) == root


def test_vllm_is_asked_to_template_chat_messages() -> None:
    assert vllm_tokenize_body("m", MESSAGES, None) == {
        "model": "m",
        "messages": MESSAGES,
        "add_generation_prompt": True,
    }


def test_vllm_is_asked_to_count_plain_text_without_special_tokens() -> None:
    assert vllm_tokenize_body("m", None, "some text") == {
        "model": "m",
        "prompt": "some text",
        "add_special_tokens": False,
    }


def test_llamacpp_is_asked_to_apply_its_template_to_the_messages() -> None:
    assert llamacpp_template_body(MESSAGES) == {"messages": MESSAGES}


@pytest.mark.parametrize("templated", [True, False])
def test_llamacpp_keeps_special_tokens_only_in_a_templated_prompt(templated: bool) -> None:
    assert llamacpp_tokenize_body("<s>x", templated=templated) == {
        "content": "<s>x",
        "add_special": templated,
        "parse_special": templated,
    }


@pytest.mark.parametrize(
    ("answer", "prompt"),
    [({"prompt": "<s>Hi"}, "<s>Hi"), ({"prompt": 5}, None), ({}, None)],
)
def test_the_templated_prompt_is_read_only_if_it_is_text(
    answer: dict[str, Any], prompt: str | None
) -> None:
    assert read_llamacpp_prompt(answer) == prompt


@pytest.mark.parametrize(
    ("answer", "count"),
    [
        ({"count": 7}, 7),
        ({"count": 0}, 0),
        ({"count": 7, "tokens": [1, 2]}, 7),
        ({"tokens": [1, 2, 3]}, 3),
        ({"tokens": []}, 0),
        ({"count": -1, "tokens": [1]}, 1),
        ({"count": True, "tokens": [1, 2]}, 2),
        ({"count": "7", "tokens": [1]}, 1),
        ({"count": -1}, None),
        ({"tokens": "123"}, None),
        ({}, None),
    ],
)
def test_a_token_count_is_read_from_count_or_the_token_list(
    answer: dict[str, Any], count: int | None
) -> None:
    assert read_token_count(answer) == count
