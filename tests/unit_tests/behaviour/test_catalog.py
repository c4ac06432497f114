"""The live model catalog: both listing shapes, profiles built from them."""

from __future__ import annotations

import pytest

from langchain_nebula import ChatNebula, NebulaAuthenticationError, NebulaServerError
from langchain_nebula.catalog import alist_models, list_models
from tests.scripted_server import ScriptedServer

NEBULA_CATALOG = {
    "data": {
        "models": [
            {
                "model_name": "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
                "model_alias": "DeepSeek-R1-Distill-Llama-70B",
                "model_type": "text",
                "context_length": 32768,
                "max_completion_tokens": 10000,
                "price": 0.4,
            },
            {
                "model_name": "Qwen/Qwen2.5-VL-7B-Instruct",
                "model_alias": "Qwen2.5-VL-7B",
                "model_type": "vision",
                "context_length": 32000,
                "max_completion_tokens": None,
            },
            {"model_name": "BAAI/bge-large-en-v1.5", "model_type": "embedding"},
            {
                "model_name": "vendor/released-next-month",
                "model_type": "text",
                "context_length": 65536,
            },
            {"model_alias": "entry without an id"},
        ]
    },
    "message": "success",
    "status": "success",
}


def test_nebula_catalog_lists_models_with_limits(server: ScriptedServer) -> None:
    server.reply_json(NEBULA_CATALOG)
    models = {
        m.id: m for m in list_models(url=f"{server.base_url}/serverless/models", api_key="ak_1")
    }
    request = server.requests[0]
    assert (request.method, request.path) == ("GET", "/v1/serverless/models")
    assert request.headers["authorization"] == "Bearer ak_1"
    assert set(models) == {
        "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
        "Qwen/Qwen2.5-VL-7B-Instruct",
        "BAAI/bge-large-en-v1.5",
        "vendor/released-next-month",
    }
    assert not models["BAAI/bge-large-en-v1.5"].is_chat
    assert models["Qwen/Qwen2.5-VL-7B-Instruct"].max_completion_tokens is None


def test_a_new_model_gets_a_correct_profile_from_the_catalog(server: ScriptedServer) -> None:
    server.reply_json(NEBULA_CATALOG)
    models = {m.id: m for m in list_models(url=f"{server.base_url}/serverless/models")}
    fresh = models["vendor/released-next-month"]
    model = ChatNebula(model=fresh.id, profile=fresh.profile())
    assert model.profile == {
        "text_inputs": True,
        "text_outputs": True,
        "tool_calling": True,
        "tool_choice": True,
        "structured_output": True,
        "max_input_tokens": 65536,
    }
    assert models["Qwen/Qwen2.5-VL-7B-Instruct"].profile()["image_inputs"] is True
    reasoner = models["deepseek-ai/DeepSeek-R1-Distill-Llama-70B"].profile()
    assert reasoner["reasoning_output"] is True
    assert reasoner["max_output_tokens"] == 10000


async def test_openai_style_models_list_from_an_inference_server(server: ScriptedServer) -> None:
    server.reply_json(
        {
            "object": "list",
            "data": [
                {
                    "id": "meta-llama/Llama-3.3-70B-Instruct",
                    "object": "model",
                    "max_model_len": 131072,
                }
            ],
        }
    )
    models = await alist_models(url=f"{server.base_url}/models")
    assert [(m.id, m.context_length) for m in models] == [
        ("meta-llama/Llama-3.3-70B-Instruct", 131072)
    ]
    assert server.requests[0].path == "/v1/models"


def test_catalog_failures_are_typed(server: ScriptedServer) -> None:
    server.reply_json({"error": {"message": "bad key", "code": "401"}}, status=401)
    with pytest.raises(NebulaAuthenticationError):
        list_models(url=f"{server.base_url}/models", max_retries=0)
    server.reply_json({"unexpected": True})
    with pytest.raises(NebulaServerError, match="no data"):
        list_models(url=f"{server.base_url}/models", max_retries=0)


def test_a_litellm_listing_gives_its_limits_and_they_win_over_the_table(
    server: ScriptedServer,
) -> None:
    listing = {
        "data": [
            {
                "id": "meta-llama/Llama-3.3-70B-Instruct",
                "object": "model",
                "created": 1,
                "owned_by": "openai",
                "max_input_tokens": 2048,
                "max_output_tokens": 512,
            },
            {"id": "BAAI/bge-large-en-v1.5", "object": "model", "created": 1, "owned_by": "openai"},
        ],
        "object": "list",
    }
    server.reply_json(listing)
    llama = list_models(url=f"{server.base_url}/models", api_key=None)[0]
    assert (llama.context_length, llama.max_completion_tokens) == (2048, 512)
    profile = llama.profile()
    assert profile["max_input_tokens"] == 2048  # not the table's 131072: the live list wins
    assert profile["max_output_tokens"] == 512
    assert profile["reasoning_output"] is False


def test_a_llamacpp_listing_gives_the_loaded_context(server: ScriptedServer) -> None:
    server.reply_json(
        {
            "data": [
                {"id": "SmolLM2", "object": "model", "meta": {"n_ctx": 8192, "n_ctx_train": 8192}}
            ]
        }
    )
    entry = list_models(url=f"{server.base_url}/models", api_key=None)[0]
    assert entry.context_length == 8192
    assert entry.profile()["max_input_tokens"] == 8192


def test_embedding_models_are_marked(server: ScriptedServer) -> None:
    server.reply_json(NEBULA_CATALOG)
    kinds = {
        m.id: (m.is_chat, m.is_embedding) for m in list_models(url=server.base_url, api_key=None)
    }
    assert kinds["BAAI/bge-large-en-v1.5"] == (False, True)
    assert kinds["Qwen/Qwen2.5-VL-7B-Instruct"] == (True, False)
