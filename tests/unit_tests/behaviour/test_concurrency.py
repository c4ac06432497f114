"""Concurrency and load: event loops, threads, one bounded pool, the rate limiter."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from langchain_core.rate_limiters import InMemoryRateLimiter

from langchain_nebula import (
    ChatNebula,
)
from tests.scripted_server import ScriptedServer, generic_reply

Make = Callable[..., ChatNebula]


def test_the_same_instance_works_across_event_loops(
    server: ScriptedServer, make_model: Make
) -> None:
    server.default = generic_reply
    model = make_model()
    for _ in range(3):
        assert asyncio.run(model.ainvoke("again")).content == "You said: again"
    assert len(server.requests) == 3


def test_rate_limiter_paces_requests(server: ScriptedServer, make_model: Make) -> None:
    server.default = generic_reply
    limiter = InMemoryRateLimiter(
        requests_per_second=20, check_every_n_seconds=0.01, max_bucket_size=1
    )
    model = make_model(rate_limiter=limiter)
    started = time.monotonic()
    for _ in range(5):
        model.invoke("Hi")
    assert time.monotonic() - started >= 0.15


async def test_1000_concurrent_abatch_calls_on_one_bounded_pool(
    server: ScriptedServer, make_model: Make
) -> None:
    server.default = generic_reply
    prompts = [f"q{i}" for i in range(1000)]
    replies = await make_model().abatch(prompts, config={"max_concurrency": 1000})
    assert [r.content for r in replies] == [f"You said: q{i}" for i in range(1000)]
    assert len(server.requests) == 1000
    # The pool caps connections at 100 and reuses them rather than opening one per call.
    assert server.most_open_connections <= 100
    assert len({request.peer for request in server.requests}) < 1000


def test_200_threads_of_batch_share_one_client(server: ScriptedServer, make_model: Make) -> None:
    server.default = generic_reply
    model = make_model()

    def call(i: int) -> str:
        return str(model.invoke(f"t{i}").content)

    with ThreadPoolExecutor(max_workers=200) as pool:
        answers = list(pool.map(call, range(200)))
    assert answers == [f"You said: t{i}" for i in range(200)]
    assert server.most_open_connections <= 100


# -- hostile input: conversion either succeeds or raises ValueError --------------------
