"""LangChain's standard embeddings integration suite, and what ours adds, against each target.

- ``TestLocalLlamaCppEmbeddings``: the session's llama.cpp server (SmolLM2-135M, which
  also serves ``/v1/embeddings``, mean-pooled, 576 dimensions).
- ``TestLiteLLMProxyEmbeddings``: the same server through a real LiteLLM proxy, under
  Nebula's embedding model id. Both run in ``make test``.

A target is a subclass naming the fixture that yields its base URL, the model and
the key.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests

from langchain_nebula import NebulaEmbeddings, NebulaResponseError
from tests.integration_tests.conftest import LOCAL_MODEL
from tests.litellm_proxy import EMBEDDINGS_MODEL, MASTER_KEY


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


class _EmbeddingsTarget(EmbeddingsIntegrationTests):
    """The standard suite and our own checks, against the server ``base_url_fixture`` yields."""

    base_url_fixture: ClassVar[str]
    target_model: ClassVar[str]
    target_api_key: ClassVar[str | None] = None

    @pytest.fixture(autouse=True)
    def _serve(self, request: pytest.FixtureRequest) -> None:
        """Starts (once per session) the target's server; models are built against it."""
        self.base_url: str = request.getfixturevalue(self.base_url_fixture)

    @property
    def embeddings_class(self) -> type[NebulaEmbeddings]:
        return NebulaEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "model": self.target_model,
            "api_key": self.target_api_key,
        }

    def embeddings(self, **settings: Any) -> NebulaEmbeddings:
        return NebulaEmbeddings(**{**self.embedding_model_params, **settings})

    # -- beyond the standard suite ------------------------------------------------------

    def test_base64_and_float_answers_carry_the_same_vectors(self) -> None:
        texts = ["The cat sat on the mat.", "Stock markets fell sharply."]
        as_base64 = self.embeddings(encoding_format="base64").embed_documents(texts)
        as_float = self.embeddings(encoding_format="float").embed_documents(texts)
        for a, b in zip(as_base64, as_float, strict=True):
            assert a == pytest.approx(b, abs=1e-6)

    async def test_concurrent_batches_give_each_text_its_own_vector_in_order(self) -> None:
        cat, markets = "The cat sat on the mat.", "Stock markets fell sharply."
        texts = [cat, markets, cat]
        model = self.embeddings(chunk_size=1, max_concurrency=3)
        batched = await model.aembed_documents(texts)
        alone = [model.embed_query(text) for text in texts]
        for together, single in zip(batched, alone, strict=True):
            assert cosine(together, single) > 0.999
        assert cosine(batched[0], batched[2]) > 0.999
        assert cosine(batched[0], batched[1]) < 0.99


class TestLocalLlamaCppEmbeddings(_EmbeddingsTarget):
    base_url_fixture = "local_base_url"
    target_model = LOCAL_MODEL

    def test_vectors_have_the_model_width(self, model: NebulaEmbeddings) -> None:
        assert len(model.embed_query("hello")) == 576  # SmolLM2-135M's hidden size

    def test_dimensions_the_server_ignores_are_reported(self) -> None:
        # llama.cpp answers full-width vectors whatever `dimensions` asks for.
        with pytest.raises(NebulaResponseError, match="asked for 64 dimensions"):
            self.embeddings(dimensions=64).embed_query("hello")

    def test_an_empty_text_is_refused_before_the_server_sees_it(self) -> None:
        # llama.cpp would answer 400 "empty"; the index is only known on our side.
        model = self.embeddings()
        with pytest.raises(ValueError, match=r"texts\[1\] is an empty string"):
            model.embed_documents(["fine", ""])


class TestLiteLLMProxyEmbeddings(_EmbeddingsTarget):
    base_url_fixture = "litellm_base_url"
    target_model = EMBEDDINGS_MODEL
    target_api_key = MASTER_KEY
