"""Pins of ``NebulaEmbeddings``' batching: where batches run, how many at once, and after
a failure, what runs no more. Over real sockets, against the scripted server.

Where a request runs is seen in the retry line the transport logs: each batch here is
answered 503 (retry at once) first, so each logs one, from its thread and task.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from langchain_nebula import NebulaBadRequestError, NebulaEmbeddings
from tests.conftest import API_KEY
from tests.scripted_server import Recorded, Reply, ScriptedServer, embeddings_reply, fake_embedding

POOL = "nebula-embeddings_"
BAD = {"error": {"message": "input is not valid", "code": 400}}


def embeddings(server: ScriptedServer, **settings: Any) -> NebulaEmbeddings:
    settings.setdefault("max_retries", 1)
    return NebulaEmbeddings(base_url=server.base_url, api_key=API_KEY, chunk_size=1, **settings)


def _json(status: int, body: dict[str, Any]) -> Reply:
    return Reply(status, {"Content-Type": "application/json"}, json.dumps(body).encode())


class BusyOnce:
    """Answers each input 503 (``Retry-After: 0``) the first time, then its vectors."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, request: Recorded) -> Reply:
        key = json.dumps(request.json["input"])
        with self.lock:
            first = key not in self.seen
            self.seen.add(key)
        if first:
            reply = _json(503, {"error": {"message": "busy"}})
            reply.headers["Retry-After"] = "0"
            return reply
        return embeddings_reply(request)


class Where(logging.Handler):
    """Records the thread and task of each retry line."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.threads: list[str] = []
        self.tasks: list[asyncio.Task[Any] | None] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "retry 1 of 1" not in record.getMessage():
            return
        self.threads.append(record.threadName or "")
        try:
            self.tasks.append(asyncio.current_task())
        except RuntimeError:  # no running loop: a sync call
            self.tasks.append(None)


@pytest.fixture
def where() -> Iterator[Where]:
    logger = logging.getLogger("langchain_nebula")
    handler, level = Where(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.mark.parametrize(
    ("texts", "max_concurrency"),
    [(["one"], 4), (["one", "two", "three"], 1)],
    ids=["one-batch", "one-at-a-time"],
)
def test_batches_that_cannot_overlap_run_in_the_callers_thread(
    server: ScriptedServer, where: Where, texts: list[str], max_concurrency: int
) -> None:
    server.default = BusyOnce()
    vectors = embeddings(server, max_concurrency=max_concurrency).embed_documents(texts)
    assert vectors == [fake_embedding(text) for text in texts]
    assert where.threads == [threading.current_thread().name] * len(texts)
    assert len(server.requests) == 2 * len(texts)


@pytest.mark.parametrize(
    ("texts", "max_concurrency"),
    [(["one"], 4), (["one", "two", "three"], 1)],
    ids=["one-batch", "one-at-a-time"],
)
def test_batches_that_cannot_overlap_run_in_the_callers_task(
    server: ScriptedServer, where: Where, texts: list[str], max_concurrency: int
) -> None:
    server.default = BusyOnce()
    model = embeddings(server, max_concurrency=max_concurrency)

    async def scenario() -> tuple[list[list[float]], asyncio.Task[Any] | None]:
        return await model.aembed_documents(texts), asyncio.current_task()

    vectors, caller = asyncio.run(scenario())
    assert vectors == [fake_embedding(text) for text in texts]
    assert where.tasks == [caller] * len(texts)


def test_overlapping_batches_run_in_max_concurrency_named_threads(
    server: ScriptedServer, where: Where
) -> None:
    before = set(threading.enumerate())
    pair = threading.Barrier(2, timeout=10)
    arrived: list[int] = []
    alive: set[str] = set()
    busy = BusyOnce()

    def reply(request: Recorded) -> Reply:
        with busy.lock:
            arrived.append(1)
            first_two = len(arrived) <= 2
            alive.update(t.name for t in threading.enumerate() if t not in before)
        if first_two:
            pair.wait()  # two in flight at once; a third would come from a third thread
        return busy(request)

    server.default = reply
    texts = ["one", "two", "three", "four"]
    vectors = embeddings(server, max_concurrency=2).embed_documents(texts)
    assert vectors == [fake_embedding(text) for text in texts]
    assert {name for name in alive if name.startswith("nebula")} == {f"{POOL}0", f"{POOL}1"}
    assert set(where.threads) == {f"{POOL}0", f"{POOL}1"}


def test_after_a_failure_batches_not_started_are_never_sent(server: ScriptedServer) -> None:
    before = set(threading.enumerate())
    release = threading.Event()
    slow_arrived = threading.Event()

    def reply(request: Recorded) -> Reply:
        [text] = request.json["input"]
        if text == "bad":
            assert slow_arrived.wait(10)  # both workers are busy when it fails
            return _json(400, BAD)
        if text in ("slow", "third"):
            slow_arrived.set()
            release.wait(10)
        return embeddings_reply(request)

    server.default = reply
    model = embeddings(server, max_concurrency=2, max_retries=0, encoding_format="float")
    try:
        with pytest.raises(NebulaBadRequestError) as caught:
            model.embed_documents(["slow", "bad", "third", "fourth", "fifth"])
        assert caught.value.message == "input is not valid"
    finally:
        release.set()
    for thread in set(threading.enumerate()) - before:
        if thread.name.startswith(POOL):
            thread.join(10)
    sent = sorted(r.json["input"][0] for r in server.requests)
    # "third" may have been taken by the worker "bad" freed before the call returned.
    assert sent in (["bad", "slow"], ["bad", "slow", "third"])


def test_after_a_failure_the_other_tasks_have_ended_when_the_call_raises(
    server: ScriptedServer,
) -> None:
    release = threading.Event()
    slow_arrived = threading.Event()

    def reply(request: Recorded) -> Reply:
        if request.json["input"] == ["bad"]:
            assert slow_arrived.wait(10)
            return _json(400, BAD)
        slow_arrived.set()
        release.wait(10)
        return embeddings_reply(request)

    server.default = reply
    model = embeddings(server, max_concurrency=3, max_retries=0, encoding_format="float")

    async def scenario() -> set[asyncio.Task[Any]]:
        with pytest.raises(NebulaBadRequestError) as caught:
            await model.aembed_documents(["slow", "bad", "slower"])
        assert caught.value.message == "input is not valid"
        return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]

    try:
        assert asyncio.run(scenario()) == set()
    finally:
        release.set()


def test_the_switch_to_floats_is_logged_once_per_server(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    refused = {"error": {"message": "base64 encoding is not currently supported", "code": 400}}

    def reply(request: Recorded) -> Reply:
        if request.json["encoding_format"] == "base64":
            return _json(400, refused)
        return embeddings_reply(request)

    server.default = reply
    model = embeddings(server, max_retries=0, max_concurrency=1)
    with caplog.at_level(logging.INFO, logger="langchain_nebula"):
        assert model.embed_documents(["a", "b"]) == [fake_embedding("a"), fake_embedding("b")]
        assert asyncio.run(model.aembed_query("c")) == fake_embedding("c")
    lines = [r.getMessage() for r in caplog.records if r.name == "langchain_nebula"]
    assert lines == [
        f"{server.base_url}/embeddings refused base64 embeddings (base64 encoding is not "
        "currently supported); asking it for floats from now on"
    ]
    formats = [r.json["encoding_format"] for r in server.requests]
    assert formats == ["base64", "float", "float", "float"]
