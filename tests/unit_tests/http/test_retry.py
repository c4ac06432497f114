"""The retry decision, exactly: which failures are retried, after how long, how often.

``Retrying`` never sleeps; it returns waits. These tests drive it with a fixed clock and
a fixed jitter, so every wait, every refusal and its message are pinned.
"""

from __future__ import annotations

import logging
import random
from types import SimpleNamespace

import pytest

from langchain_nebula import (
    NebulaBadRequestError,
    NebulaConnectionError,
    NebulaRateLimitError,
    NebulaServerError,
    NebulaTimeoutError,
    _server_words,
)
from langchain_nebula._http import retry as _retry
from langchain_nebula._http.retry import Retrying, RetryPolicy
from langchain_nebula.errors import NebulaError

NOW = 1_700_000_000.0


class Clock:
    """Stands in for the ``time`` module in ``_retry``: time stands still unless moved."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return NOW


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(_retry, "time", fake)
    monkeypatch.setattr(_server_words, "time", fake)
    return fake


@pytest.fixture
def no_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_retry, "random", SimpleNamespace(random=lambda: 0.0))


def busy(retry_after: float | None = None) -> NebulaError:
    error = NebulaServerError("busy", status_code=503)
    error.retry_after = retry_after
    return error


def test_the_default_policy() -> None:
    assert RetryPolicy() == RetryPolicy(
        max_retries=2, max_wait=60.0, initial_backoff=0.5, max_backoff=8.0, total_timeout=None
    )


def test_begin_starts_fresh_bookkeeping_without_a_deadline() -> None:
    retrying = RetryPolicy().begin()
    assert type(retrying) is Retrying
    assert (retrying.retries, retrying.deadline) == (0, None)
    assert retrying.remaining() is None


def test_the_deadline_is_total_timeout_from_the_start(clock: Clock) -> None:
    retrying = RetryPolicy(total_timeout=30.0).begin()
    assert retrying.deadline == 1030.0
    clock.now = 1012.5
    assert retrying.remaining() == 17.5


def test_remaining_counts_down_to_the_last_fraction_of_a_second(clock: Clock) -> None:
    retrying = RetryPolicy(total_timeout=30.0).begin()
    clock.now += 29.5
    assert retrying.remaining() == 0.5


@pytest.mark.parametrize("elapsed", [30.0, 31.0])
def test_remaining_raises_once_the_deadline_is_reached(clock: Clock, elapsed: float) -> None:
    retrying = RetryPolicy(total_timeout=30.0).begin()
    clock.now += elapsed
    with pytest.raises(NebulaTimeoutError) as caught:
        retrying.remaining()
    assert caught.value.message == "the call did not finish within total_timeout"
    assert caught.value.retryable is False


@pytest.mark.usefixtures("no_jitter")
def test_backoff_doubles_from_the_initial_wait_up_to_the_cap() -> None:
    retrying = RetryPolicy(max_retries=7, initial_backoff=0.5, max_backoff=8.0).begin()
    waits = [retrying.wait_or_raise(busy()) for _ in range(7)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert retrying.retries == 7


def test_jitter_shortens_the_backoff_by_up_to_a_quarter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_retry, "random", SimpleNamespace(random=lambda: 0.5))
    retrying = RetryPolicy(initial_backoff=2.0).begin()
    assert retrying.wait_or_raise(busy()) == 1.75
    assert retrying.wait_or_raise(busy()) == 3.5


def test_real_jitter_stays_within_three_quarters_and_all_of_the_backoff() -> None:
    random.seed(7)
    waits = [RetryPolicy(initial_backoff=4.0).begin().wait_or_raise(busy()) for _ in range(200)]
    assert all(3.0 <= wait <= 4.0 for wait in waits)


def test_a_wait_the_server_names_is_used_as_is() -> None:
    retrying = RetryPolicy().begin()
    assert retrying.wait_or_raise(busy(retry_after=7.25)) == 7.25
    assert retrying.wait_or_raise(busy(retry_after=0.0)) == 0.0


def test_a_wait_of_exactly_max_wait_is_honoured() -> None:
    assert RetryPolicy(max_wait=60.0).begin().wait_or_raise(busy(retry_after=60.0)) == 60.0


def test_a_wait_over_max_wait_fails_at_once_saying_why() -> None:
    error = busy(retry_after=60.4)
    with pytest.raises(NebulaServerError) as caught:
        RetryPolicy(max_wait=60.0).begin().wait_or_raise(error)
    assert caught.value is error
    assert error.message == "busy (the server asked to retry after 60 s; not waiting)"


@pytest.mark.usefixtures("no_jitter")
def test_max_retries_waits_are_given_then_the_error_is_raised() -> None:
    retrying = RetryPolicy(max_retries=2).begin()
    assert retrying.wait_or_raise(busy()) == 0.5
    assert retrying.wait_or_raise(busy()) == 1.0
    last = busy()
    with pytest.raises(NebulaServerError) as caught:
        retrying.wait_or_raise(last)
    assert caught.value is last
    assert last.message == "busy"
    assert retrying.retries == 2


def test_no_retries_raises_the_first_error() -> None:
    error = NebulaRateLimitError("slow", status_code=429)
    with pytest.raises(NebulaRateLimitError) as caught:
        RetryPolicy(max_retries=0).begin().wait_or_raise(error)
    assert caught.value is error


@pytest.mark.parametrize(
    "error",
    [
        NebulaBadRequestError("bad", status_code=400),
        NebulaServerError("marked final", retryable=False),
    ],
)
def test_an_error_that_is_not_retryable_is_raised_at_once(error: NebulaError) -> None:
    retrying = RetryPolicy(max_retries=5).begin()
    with pytest.raises(type(error)) as caught:
        retrying.wait_or_raise(error)
    assert caught.value is error
    assert retrying.retries == 0


def test_an_unsent_request_is_resent_at_once_once_without_counting() -> None:
    retrying = RetryPolicy(max_retries=0).begin()
    first = NebulaConnectionError("closed")
    first.unsent = True
    assert retrying.wait_or_raise(first) == 0.0
    assert retrying.retries == 0
    second = NebulaConnectionError("closed again")
    second.unsent = True
    with pytest.raises(NebulaConnectionError) as caught:
        retrying.wait_or_raise(second)
    assert caught.value is second


def test_an_unsent_request_is_resent_even_if_its_error_is_not_retryable() -> None:
    error = NebulaBadRequestError("never sent")
    error.unsent = True
    assert RetryPolicy(max_retries=0).begin().wait_or_raise(error) == 0.0


@pytest.mark.usefixtures("no_jitter")
def test_after_the_one_resend_an_unsent_error_is_retried_like_any_other() -> None:
    retrying = RetryPolicy(max_retries=1).begin()
    for _ in range(2):
        error = NebulaConnectionError("closed")
        error.unsent = True
        wait = retrying.wait_or_raise(error)
    assert wait == 0.5
    assert retrying.retries == 1


def test_a_wait_that_would_end_at_the_deadline_fails_at_once(clock: Clock) -> None:
    retrying = RetryPolicy(total_timeout=10.0).begin()
    clock.now += 4.0
    error = busy(retry_after=6.0)
    with pytest.raises(NebulaServerError) as caught:
        retrying.wait_or_raise(error)
    assert caught.value is error
    assert error.message == "busy (no time left to retry within total_timeout)"


def test_a_wait_that_ends_before_the_deadline_is_given(clock: Clock) -> None:
    retrying = RetryPolicy(total_timeout=10.0).begin()
    clock.now += 4.0
    assert retrying.wait_or_raise(busy(retry_after=5.99)) == 5.99


def test_each_retry_is_logged_with_its_wait(caplog: pytest.LogCaptureFixture) -> None:
    retrying = RetryPolicy(max_retries=3).begin()
    with caplog.at_level(logging.DEBUG, logger="langchain_nebula"):
        retrying.wait_or_raise(busy(retry_after=1.5))
    assert [r.getMessage() for r in caplog.records if r.name == "langchain_nebula"] == [
        "Nebula request failed (busy); retry 1 of 3 in 1.50 s"
    ]
