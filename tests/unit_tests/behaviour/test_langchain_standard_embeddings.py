"""LangChain's standard unit tests for embeddings."""

from __future__ import annotations

from typing import Any

from langchain_tests.unit_tests import EmbeddingsUnitTests

from langchain_nebula import NebulaEmbeddings


class TestNebulaEmbeddingsStandard(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[NebulaEmbeddings]:
        return NebulaEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "BAAI/bge-large-en-v1.5"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"NEBULA_API_KEY": "ak_from_env", "NEBULA_BASE_URL": "http://127.0.0.1:9/v1"},
            {},
            {"api_key": "ak_from_env", "base_url": "http://127.0.0.1:9/v1"},
        )
