"""NebulaEmbeddings on the wire: request bodies, batching, concurrency, formats, failures.

Every test runs against the scripted server on 127.0.0.1; the ``embed`` fixture runs
each behaviour through ``embed_documents`` and through ``aembed_documents``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import warnings
from collections.abc import Callable
from typing import Any

import pydantic
import pytest
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_nebula import (
    NebulaAuthenticationError,
    NebulaBadRequestError,
    NebulaContextOverflowError,
    NebulaEmbeddings,
    NebulaRateLimitError,
    NebulaResponseError,
    NebulaServerError,
)
from langchain_nebula.embeddings import DEFAULT_EMBEDDING_MODEL
from tests.conftest import API_KEY
from tests.scripted_server import (
    Recorded,
    Reply,
    ScriptedServer,
    base64_floats,
    embeddings_answer,
    embeddings_reply,
    fake_embedding,
    generic_reply,
)

Make = Callable[..., NebulaEmbeddings]
Embed = Callable[[NebulaEmbeddings, list[str]], list[list[float]]]
TEXTS = ["The cat sat.", "Dogs bark loudly.", "Birds sing at dawn.", "Fish swim."]
REFUSED_BASE64 = {
    "object": "error",
    "message": "base64 encoding is not currently supported",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}


@pytest.fixture
def make_embeddings(server: ScriptedServer) -> Make:
    """Builds NebulaEmbeddings aimed at the scripted server (no retries unless asked)."""

    def make(**kwargs: Any) -> NebulaEmbeddings:
        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("max_retries", 0)
        return NebulaEmbeddings(base_url=server.base_url, **kwargs)

    return make


@pytest.fixture(params=["sync", "async"])
def embed(request: pytest.FixtureRequest) -> Embed:
    """``embed_documents``, or ``aembed_documents`` run to completion on a fresh loop."""
    if request.param == "sync":
        return lambda model, texts: model.embed_documents(texts)
    return lambda model, texts: asyncio.run(model.aembed_documents(texts))


def inputs(server: ScriptedServer) -> list[list[str]]:
    return [request.json["input"] for request in server.requests]


# -- the request ------------------------------------------------------------------------


def test_the_request_body_is_model_input_and_encoding_format_only(
    server: ScriptedServer, make_embeddings: Make, embed: Embed
) -> None:
    server.default = embeddings_reply
    embed(make_embeddings(), TEXTS[:2])
    (request,) = server.requests
    assert request.method == "POST"
    assert request.path == "/v1/embeddings"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.json == {
        "model": DEFAULT_EMBEDDING_MODEL,
        "input": TEXTS[:2],
        "encoding_format": "base64",
    }


def test_dimensions_is_sent_when_set(
    server: ScriptedServer, make_embeddings: Make, embed: Embed
) -> None:
    server.default = embeddings_reply
    vectors = embed(make_embeddings(dimensions=256, model="m"), TEXTS[:1])
    assert server.requests[0].json == {
        "model": "m",
        "input": TEXTS[:1],
        "encoding_format": "base64",
        "dimensions": 256,
    }
    assert len(vectors[0]) == 256


def test_embed_query_sends_one_text_and_returns_one_vector(
    server: ScriptedServer, make_embeddings: Make
) -> None:
    server.default = embeddings_reply
    model = make_embeddings()
    assert model.embed_query("Hello there") == fake_embedding("Hello there")
    assert asyncio.run(model.aembed_query("Hello again")) == fake_embedding("Hello again")
    assert inputs(server) == [["Hello there"], ["Hello again"]]


def test_unknown_keywords_are_sent_as_request_fields_with_a_warning(
    server: ScriptedServer, make_embeddings: Make
) -> None:
    server.default = embeddings_reply
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = make_embeddings(user="user-42", chunk_sise=10)
    assert [str(warning.message) for warning in caught] == [
        "NebulaEmbeddings has no parameter 'user' It was moved to model_kwargs and will be "
        "sent as a top-level request field.",
        "NebulaEmbeddings has no parameter 'chunk_sise'; did you mean 'chunk_size'? It was "
        "moved to model_kwargs and will be sent as a top-level request field.",
    ]
    assert caught[0].filename == __file__  # points at the caller, not at pydantic
    assert model.model_kwargs == {"user": "user-42", "chunk_sise": 10}
    model.embed_documents(["x"])
    assert server.requests[0].json["user"] == "user-42"


@pytest.mark.parametrize("field", ["input", "model", "encoding_format", "dimensions"])
def test_model_kwargs_may_not_set_the_fields_the_class_sets(field: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="may not be set in model_kwargs"):
        NebulaEmbeddings(model_kwargs={field: "x"})


@pytest.mark.parametrize(
    "bad",
    [{"chunk_size": 0}, {"chunk_size": 2049}, {"max_concurrency": 0}, {"dimensions": 0}],
)
def test_bad_settings_fail_at_construction(bad: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        NebulaEmbeddings(**bad)


def test_an_in_memory_vector_store_retrieves_the_closest_text(
    server: ScriptedServer, make_embeddings: Make
) -> None:
    server.default = generic_reply
    store = InMemoryVectorStore.from_texts(TEXTS, embedding=make_embeddings())
    (found,) = store.similarity_search("Why do dogs bark?", k=1)
    assert found.page_content == "Dogs bark loudly."
    assert inputs(server) == [TEXTS, ["Why do dogs bark?"]]


# -- input that sends nothing ------------------------------------------------------------


def test_no_texts_give_no_vectors_and_no_request(
    server: ScriptedServer, make_embeddings: Make, embed: Embed
) -> None:
    assert embed(make_embeddings(), []) == []
    assert server.requests == []


def test_a_text_that_is_not_a_string_is_refused_before_any_request(
    server: ScriptedServer, make_embeddings: Make, embed: Embed
) -> None:
    texts: Any = ["fine", "also fine", 42]
    with pytest.raises(ValueError, match=r"texts\[2\] is int, not str"):
        embed(make_embeddings(chunk_size=1), texts)
    assert server.requests == []


def test_one_string_passed_as_the_documents_is_refused(
    server: ScriptedServer, make_embeddings: Make, embed: Embed
) -> None:
    texts: Any = "one text"
    with pytest.raises(ValueError, match="use embed_query for one text"):
        embed(make_embeddings(), texts)
    assert server.requests == []


def test_embed_query_refuses_what_is_not_a_string(
    server: ScriptedServer, make_embeddings: Make
) -> None:
    model = make_embeddings()
    query: Any = None
    with pytest.raises(ValueError, match="text is NoneType, not str"):
        model.embed_query(query)
    with pytest.raises(ValueError, match="text is NoneType, not str"):
        asyncio.run(model.aembed_query(query))
    assert server.requests == []


# -- batches, order and concurrency -------------------------------------------------------


def test_texts_are_sent_chunk_size_at_a_time_and_joined_in_order(
    server: ScriptedServer, make_embeddings: Make, embed: Embed
) -> None:
    server.default = embeddings_reply
    texts = [f"text number {n}" for n in range(8)]
    vectors = embed(make_embeddings(chunk_size=3, max_concurrency=1), texts)
    assert inputs(server) == [texts[0:3], texts[3:6], texts[6:8]]
    assert vectors == [fake_embedding(text) for text in texts]


def test_items_are_placed_by_index_not_by_position(
    server: ScriptedServer, make_embeddings: Make, embed: Embed
) -> None:
    server.default = lambda request: embeddings_reply(request, reverse=True)
    vectors = embed(make_embeddings(), TEXTS)
    assert vectors == [fake_embedding(text) for text in TEXTS]
    sent = json.loads(server.default(server.requests[0]).body)["data"]
    assert [item["index"] for item in sent] == [3, 2, 1, 0]


def test_batches_answered_out_of_order_are_joined_in_input_order(
    server: ScriptedServer, make_embeddings: Make, embed: Embed
) -> None:
    # The first batch is answered only once the last one has arrived, so it finishes last.
    last_arrived = threading.Event()

    def reply(request: Recorded) -> Reply:
        if request.json["input"] == TEXTS[-1:]:
            last_arrived.set()
        elif request.json["input"] == TEXTS[:1]:
            assert last_arrived.wait(10)
        return embeddings_reply(request)

    server.default = reply
    vectors = embed(make_embeddings(chunk_size=1, max_concurrency=len(TEXTS)), TEXTS)
    assert vectors == [fake_embedding(text) for text in TEXTS]


class InFlight:
    """Counts requests in flight; holds the first ``width`` until all are in flight together.

    Held together, they then stay in flight for ``window`` seconds, ending early if a
    request beyond them arrives: an observation window for the excess request an
    unbounded client would send now, not a wait for anything to happen.
    """

    def __init__(self, width: int, window: float = 0.5) -> None:
        self.width = width
        self.window = window
        self.together = threading.Barrier(width, timeout=10)
        self.excess = threading.Event()
        self.lock = threading.Lock()
        self.arrived = 0
        self.now = 0
        self.peak = 0

    def __call__(self, request: Recorded) -> Reply:
        with self.lock:
            self.arrived += 1
            first = self.arrived <= self.width
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            if first:
                self.together.wait()  # breaks (failing the request) if fewer ever arrive
                self.excess.wait(self.window)
            else:
                self.excess.set()
        finally:
            with self.lock:
                self.now -= 1
        return embeddings_reply(request)


@pytest.mark.parametrize("max_concurrency", [2, 3])
def test_exactly_max_concurrency_requests_are_in_flight_at_once(
    server: ScriptedServer, make_embeddings: Make, embed: Embed, max_concurrency: int
) -> None:
    in_flight = InFlight(max_concurrency)
    server.default = in_flight
    texts = [f"text {n}" for n in range(3 * max_concurrency)]
    vectors = embed(make_embeddings(chunk_size=1, max_concurrency=max_concurrency), texts)
    assert in_flight.peak == max_concurrency
    assert len(server.requests) == len(texts)
    assert vectors == [fake_embedding(text) for text in texts]


def test_a_failed_batch_fails_the_call_without_waiting_for_the_others(
    server: ScriptedServer, make_embeddings: Make, embed: Embed
) -> None:
    slow_arrived, release = threading.Event(), threading.Event()
    slow_answered = threading.Event()

    def reply(request: Recorded) -> Reply:
        if request.json["input"] == ["slow"]:
            slow_arrived.set()
            release.wait(10)
            slow_answered.set()
            return embeddings_reply(request)
        assert slow_arrived.wait(10)  # both batches are in flight
        body = {"error": {"message": "input is not valid", "code": 400}}
        return Reply(400, {"Content-Type": "application/json"}, json.dumps(body).encode())

    server.default = reply
    model = make_embeddings(chunk_size=1, max_concurrency=2, encoding_format="float")
    try:
        with pytest.raises(NebulaBadRequestError, match="input is not valid"):
            embed(model, ["slow", "bad"])
        assert not slow_answered.is_set()
    finally:
        release.set()


# -- base64 and float ---------------------------------------------------------------------


@pytest.mark.parametrize("encoding_format", ["base64", "float"])
def test_each_format_decodes_to_exactly_the_same_vectors(
    server: ScriptedServer,
    make_embeddings: Make,
    embed: Embed,
    encoding_format: str,
) -> None:
    server.default = embeddings_reply
    vectors = embed(make_embeddings(encoding_format=encoding_format), TEXTS)
    assert server.requests[0].json["encoding_format"] == encoding_format
    assert vectors == [fake_embedding(text) for text in TEXTS]
    assert all(type(value) is float for vector in vectors for value in vector)


def test_a_server_that_ignores_base64_and_sends_floats_still_works(
    server: ScriptedServer, make_embeddings: Make, embed: Embed
) -> None:
    server.reply_json(embeddings_answer([fake_embedding(text) for text in TEXTS]))
    assert embed(make_embeddings(), TEXTS) == [fake_embedding(text) for text in TEXTS]
    assert len(server.requests) == 1


def test_integer_valued_numbers_are_read_as_floats(
    server: ScriptedServer, make_embeddings: Make, embed: Embed
) -> None:
    server.reply_json(embeddings_answer([[0, 1.5, -2]]))
    (vector,) = embed(make_embeddings(), ["x"])
    assert vector == [0.0, 1.5, -2.0]
    assert all(type(value) is float for value in vector)


def test_a_server_refusing_base64_is_asked_for_floats_once_and_from_then_on(
    server: ScriptedServer, make_embeddings: Make, embed: Embed
) -> None:
    def reply(request: Recorded) -> Reply:
        if request.json["encoding_format"] == "base64":
            body = json.dumps(REFUSED_BASE64).encode()
            return Reply(400, {"Content-Type": "application/json"}, body)
        return embeddings_reply(request)

    server.default = reply
    model = make_embeddings()
    assert embed(model, TEXTS[:2]) == [fake_embedding(text) for text in TEXTS[:2]]
    assert embed(model, TEXTS[2:]) == [fake_embedding(text) for text in TEXTS[2:]]
    formats = [request.json["encoding_format"] for request in server.requests]
    assert formats == ["base64", "float", "float"]
    # Another instance has not learnt it.
    embed(make_embeddings(), TEXTS[:1])
    formats = [request.json["encoding_format"] for request in server.requests[3:]]
    assert formats == ["base64", "float"]


def test_a_client_error_that_floats_do_not_fix_is_raised_and_base64_is_kept(
    server: ScriptedServer, make_embeddings: Make, embed: Embed
) -> None:
    refused = {"error": {"message": "input is too long", "code": 400}}
    server.reply_json(refused, status=400)
    server.reply_json(refused, status=400)
    server.default = embeddings_reply
    model = make_embeddings()
    with pytest.raises(NebulaBadRequestError, match="input is too long"):
        embed(model, TEXTS[:1])
    embed(model, TEXTS[:1])
    formats = [request.json["encoding_format"] for request in server.requests]
    assert formats == ["base64", "float", "base64"]


def test_a_context_overflow_is_not_asked_again_as_floats(
    server: ScriptedServer, make_embeddings: Make, embed: Embed
) -> None:
    server.reply_json(
        {"error": {"message": "This model's maximum context length is 512 tokens", "code": 400}},
        status=400,
    )
    with pytest.raises(NebulaContextOverflowError):
        embed(make_embeddings(), ["a very long text"])
    assert len(server.requests) == 1


def test_encoding_format_float_never_asks_for_base64(
    server: ScriptedServer, make_embeddings: Make, embed: Embed
) -> None:
    server.reply_json({"error": {"message": "bad input", "code": 400}}, status=400)
    with pytest.raises(NebulaBadRequestError):
        embed(make_embeddings(encoding_format="float"), ["x"])
    assert [request.json["encoding_format"] for request in server.requests] == ["float"]


# -- failures -----------------------------------------------------------------------------


def test_a_rejected_key_echoed_by_the_server_is_masked_and_not_retried(
    server: ScriptedServer, make_embeddings: Make, embed: Embed
) -> None:
    server.reply_json({"error": {"message": f"Invalid key {API_KEY}", "code": "401"}}, status=401)
    with pytest.raises(NebulaAuthenticationError) as caught:
        embed(make_embeddings(max_retries=2), ["x"])
    error = caught.value
    assert error.status_code == 401
    assert "Invalid key ***" in error.message
    for text in (str(error), repr(error), error.message, str(error.raw_message), str(error.body)):
        assert API_KEY not in text
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("status", "error_type"), [(429, NebulaRateLimitError), (500, NebulaServerError)]
)
def test_rate_limits_and_server_errors_are_retried(
    server: ScriptedServer, make_embeddings: Make, embed: Embed, status: int, error_type: type
) -> None:
    failure = {"error": {"message": "try again", "code": status}}
    server.reply_json(failure, status=status, headers={"Retry-After": "0"})
    server.default = embeddings_reply
    assert embed(make_embeddings(max_retries=1), ["x"]) == [fake_embedding("x")]
    assert len(server.requests) == 2
    # Without retries the same failure is raised, typed.
    server.reply_json(failure, status=status, headers={"Retry-After": "0"})
    with pytest.raises(error_type, match="try again"):
        embed(make_embeddings(max_retries=0), ["x"])


def test_the_environment_key_is_not_sent_to_another_host(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, embed: Embed
) -> None:
    monkeypatch.setenv("NEBULA_API_KEY", API_KEY)
    server.default = embeddings_reply
    embed(NebulaEmbeddings(base_url=server.base_url), ["x"])
    assert "authorization" not in server.requests[0].headers


def test_a_200_that_is_not_json_is_a_typed_error(
    server: ScriptedServer, make_embeddings: Make, embed: Embed
) -> None:
    server.reply_raw(b"<html>Bad gateway</html>", content_type="text/html")
    with pytest.raises(NebulaResponseError, match="non-JSON body"):
        embed(make_embeddings(), ["x"])


def _item(embedding: Any, index: Any = 0) -> dict[str, Any]:
    return {"object": "embedding", "index": index, "embedding": embedding}


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"object": "list"}, "no data list"),
        ({"data": {"0": [1.0]}}, "no data list"),
        ({"data": [_item([1.0])]}, "1 embeddings for 2 inputs"),
        ({"data": [_item([1.0]), "oops"]}, r"data\[1\] is str, not an object"),
        ({"data": [_item([1.0]), _item([1.0], index=2)]}, r"data\[1\].index is 2"),
        ({"data": [_item([1.0]), _item([1.0], index="1")]}, r"data\[1\].index is '1'"),
        ({"data": [_item([1.0]), _item([1.0], index=True)]}, r"data\[1\].index is True"),
        ({"data": [_item([1.0]), _item([1.0])]}, "index 0 appears twice"),
        ({"data": [_item([1.0]), _item(["1.0"], index=1)]}, "not a non-empty list of numbers"),
        ({"data": [_item([1.0]), _item([True], index=1)]}, "not a non-empty list of numbers"),
        ({"data": [_item([1.0]), _item([], index=1)]}, "not a non-empty list of numbers"),
        ({"data": [_item([1.0]), _item(None, index=1)]}, "not a non-empty list of numbers"),
        ({"data": [_item([1.0]), _item("not base64!", index=1)]}, "not base64 float32 data"),
        ({"data": [_item([1.0]), _item("AAAA", index=1)]}, "3 bytes is not a whole number"),
        ({"data": [_item([1.0]), _item([1.0, 2.0], index=1)]}, "vector 1 has 2 dimensions"),
    ],
)
def test_an_unusable_answer_is_a_typed_error(
    server: ScriptedServer,
    make_embeddings: Make,
    embed: Embed,
    answer: dict[str, Any],
    problem: str,
) -> None:
    server.reply_json(answer)
    with pytest.raises(NebulaResponseError, match=problem) as caught:
        embed(make_embeddings(encoding_format="float"), ["a", "b"])
    assert not caught.value.retryable


def test_vectors_of_another_length_than_the_dimensions_asked_for_are_refused(
    server: ScriptedServer, make_embeddings: Make, embed: Embed
) -> None:
    server.reply_json(embeddings_answer([base64_floats([0.5] * 8)]))
    with pytest.raises(NebulaResponseError, match="asked for 4 dimensions, the server returned 8"):
        embed(make_embeddings(dimensions=4), ["x"])


def test_vector_lengths_are_checked_across_batches(
    server: ScriptedServer, make_embeddings: Make, embed: Embed
) -> None:
    server.reply_json(embeddings_answer([[1.0, 2.0]]))
    server.reply_json(embeddings_answer([[1.0, 2.0, 3.0]]))
    with pytest.raises(NebulaResponseError, match="vector 1 has 3 dimensions, vector 0 has 2"):
        embed(make_embeddings(chunk_size=1, max_concurrency=1), ["a", "b"])
