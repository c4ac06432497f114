"""NebulaEmbeddings refuses unusable inputs before any request, and serializes without its key."""

from __future__ import annotations

import asyncio
import json

import pytest
from langchain_core.load import dumpd, dumps, load, loads

from langchain_nebula import NebulaEmbeddings
from tests.conftest import API_KEY
from tests.scripted_server import ScriptedServer, embeddings_reply


@pytest.fixture
def embeddings(server: ScriptedServer) -> NebulaEmbeddings:
    server.default = embeddings_reply
    return NebulaEmbeddings(base_url=server.base_url, api_key=API_KEY, max_retries=0)


def test_an_empty_text_is_refused_by_its_index_before_any_request(
    embeddings: NebulaEmbeddings, server: ScriptedServer
) -> None:
    with pytest.raises(ValueError, match=r"^texts\[2\] is an empty string"):
        embeddings.embed_documents(["one", "two", "", "four"])
    assert server.requests == []


def test_an_empty_text_in_a_later_batch_is_refused_before_the_first_batch_is_sent(
    server: ScriptedServer,
) -> None:
    server.default = embeddings_reply
    embeddings = NebulaEmbeddings(
        base_url=server.base_url, api_key=API_KEY, max_retries=0, chunk_size=2
    )
    with pytest.raises(ValueError, match=r"^texts\[5\] is an empty string"):
        embeddings.embed_documents(["a", "b", "c", "d", "e", ""])
    assert server.requests == []


def test_an_empty_text_is_refused_by_the_async_path_too(
    embeddings: NebulaEmbeddings, server: ScriptedServer
) -> None:
    with pytest.raises(ValueError, match=r"^texts\[0\] is an empty string"):
        asyncio.run(embeddings.aembed_documents([""]))
    assert server.requests == []


def test_an_empty_query_is_refused_before_any_request(
    embeddings: NebulaEmbeddings, server: ScriptedServer
) -> None:
    with pytest.raises(ValueError, match=r"^text is an empty string"):
        embeddings.embed_query("")
    with pytest.raises(ValueError, match=r"^text is an empty string"):
        asyncio.run(embeddings.aembed_query(""))
    assert server.requests == []


def test_whitespace_is_text_and_is_sent(
    embeddings: NebulaEmbeddings, server: ScriptedServer
) -> None:
    assert len(embeddings.embed_documents([" "])) == 1
    assert server.requests[0].json["input"] == [" "]


def test_the_dump_names_the_class_and_its_fields_but_not_the_key() -> None:
    embeddings = NebulaEmbeddings(
        api_key=API_KEY,
        base_url="http://127.0.0.1:9/v1",
        model="BAAI/bge-large-en-v1.5",
        dimensions=256,
        default_headers={"X-Tenant": "secret-tenant"},
    )

    data = dumpd(embeddings)
    text = dumps(embeddings)

    assert data["id"] == ["langchain_nebula", "embeddings", "NebulaEmbeddings"]
    assert data["kwargs"]["api_key"] == {"lc": 1, "type": "secret", "id": ["NEBULA_API_KEY"]}
    assert data["kwargs"]["dimensions"] == 256
    assert API_KEY not in text
    assert "secret-tenant" not in text
    assert json.loads(text) == data


# load() is marked beta in langchain-core; the round trip is what is tested here.
LOAD_IS_BETA = pytest.mark.filterwarnings("ignore::langchain_core._api.LangChainBetaWarning")


@LOAD_IS_BETA
def test_a_dump_loads_back_into_an_equal_model_with_the_key_from_the_secrets() -> None:
    embeddings = NebulaEmbeddings(
        api_key=API_KEY, base_url="http://127.0.0.1:9/v1", model="m", chunk_size=7
    )

    restored = loads(
        dumps(embeddings),
        allowed_objects=[NebulaEmbeddings],
        valid_namespaces=["langchain_nebula"],
        secrets_map={"NEBULA_API_KEY": "ak_restored-key"},
    )

    assert isinstance(restored, NebulaEmbeddings)
    assert (restored.model, restored.chunk_size, restored.base_url) == (
        "m",
        7,
        "http://127.0.0.1:9/v1",
    )
    assert restored.api_key is not None
    assert restored.api_key.get_secret_value() == "ak_restored-key"


@LOAD_IS_BETA
def test_a_loaded_model_embeds_against_the_same_server(
    embeddings: NebulaEmbeddings, server: ScriptedServer
) -> None:
    restored = load(
        dumpd(embeddings),
        allowed_objects=[NebulaEmbeddings],
        valid_namespaces=["langchain_nebula"],
        secrets_map={"NEBULA_API_KEY": API_KEY},
    )

    assert restored.embed_query("hello") == embeddings.embed_query("hello")
    assert [r.headers["authorization"] for r in server.requests] == [f"Bearer {API_KEY}"] * 2
