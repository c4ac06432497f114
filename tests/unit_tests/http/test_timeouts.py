"""Every wait of a call, exactly: the settings resolved, and which rule bounds each read.

``Timeouts`` decides the (connect, read, write, pool) waits once; ``for_request`` and
``for_attempt`` name the rule that bounds a read ("read", "stall" or "deadline"), which
decides what a read timeout is reported as.
"""

from __future__ import annotations

import httpx
import pytest

from langchain_nebula._http.libraries import http
from langchain_nebula._http.timeouts import DEFAULT_TIMEOUT, Timeouts

CLIENT = httpx.Timeout(10.0, connect=1.0, write=3.0, pool=4.0)  # read 10


# -- the settings ------------------------------------------------------------------------


def test_the_default_is_5_s_to_connect_and_600_s_for_the_rest() -> None:
    assert (DEFAULT_TIMEOUT.connect, DEFAULT_TIMEOUT.read) == (5.0, 600.0)
    assert (DEFAULT_TIMEOUT.write, DEFAULT_TIMEOUT.pool) == (600.0, 600.0)
    assert Timeouts.from_settings(None, total=None, own_client=False) == Timeouts(
        (5.0, 600.0, 600.0, 600.0), per_request=False, total=None
    )


@pytest.mark.parametrize("seconds", [30, 30.0])
def test_seconds_bound_every_wait(seconds: float) -> None:
    timeouts = Timeouts.from_settings(seconds, total=None, own_client=False)
    assert timeouts.waits == (30.0, 30.0, 30.0, 30.0)
    assert all(type(wait) is float for wait in timeouts.waits)


def test_a_timeout_object_gives_its_own_waits() -> None:
    given = http.Timeout(None, connect=2.0, read=7.5)
    assert Timeouts.from_settings(given, total=None, own_client=False).waits == (
        2.0,
        7.5,
        None,
        None,
    )


def test_an_httpx_timeout_is_read_too() -> None:
    assert Timeouts.from_settings(CLIENT, total=None, own_client=False).waits == (
        1.0,
        10.0,
        3.0,
        4.0,
    )


@pytest.mark.parametrize(
    ("timeout", "own_client", "per_request"),
    [(None, False, False), (None, True, False), (3.0, False, False), (3.0, True, True)],
)
def test_waits_are_set_per_request_only_for_the_users_client_given_a_timeout(
    timeout: float | None, own_client: bool, per_request: bool
) -> None:
    resolved = Timeouts.from_settings(timeout, total=None, own_client=own_client)
    assert resolved.per_request is per_request


def test_the_total_is_kept() -> None:
    assert Timeouts.from_settings(None, total=12.5, own_client=False).total == 12.5
    assert Timeouts((1.0, 2.0, 3.0, 4.0)) == Timeouts((1.0, 2.0, 3.0, 4.0), False, None)


def test_timeouts_are_frozen() -> None:
    timeouts = Timeouts((1.0, 2.0, 3.0, 4.0))
    with pytest.raises(AttributeError):
        timeouts.total = 1.0  # type: ignore[misc]


# -- a request: the client's waits, or ours, and the stall ------------------------------


def test_a_pooled_client_keeps_its_own_waits_under_the_read_rule() -> None:
    ours = Timeouts((5.0, 600.0, 600.0, 600.0))
    assert ours.for_request(CLIENT, stall=None) == (None, "read")


def test_the_users_client_with_a_timeout_gets_ours_on_each_request() -> None:
    ours = Timeouts((5.0, 60.0, 6.0, 7.0), per_request=True)
    assert ours.for_request(CLIENT, stall=None) == ((5.0, 60.0, 6.0, 7.0), "read")


def test_a_stall_shorter_than_the_clients_read_bounds_the_read() -> None:
    ours = Timeouts((5.0, 600.0, 600.0, 600.0))
    assert ours.for_request(CLIENT, stall=2.0) == ((1.0, 2.0, 3.0, 4.0), "stall")


def test_a_stall_shorter_than_our_read_bounds_it_on_the_users_client() -> None:
    ours = Timeouts((5.0, 60.0, 6.0, 7.0), per_request=True)
    assert ours.for_request(CLIENT, stall=30.0) == ((5.0, 30.0, 6.0, 7.0), "stall")


@pytest.mark.parametrize("stall", [10.0, 11.0])
def test_a_stall_no_shorter_than_the_read_leaves_the_read_rule(stall: float) -> None:
    ours = Timeouts((5.0, 600.0, 600.0, 600.0))
    assert ours.for_request(CLIENT, stall=stall) == (None, "read")


def test_a_stall_bounds_a_read_that_has_no_limit() -> None:
    ours = Timeouts((5.0, None, None, None))
    unlimited = httpx.Timeout(None, connect=5.0)
    assert ours.for_request(unlimited, stall=9.0) == ((5.0, 9.0, None, None), "stall")
    assert ours.for_request(unlimited, stall=None) == (None, "read")


# -- an attempt: every wait bounded by what is left before the deadline -------------------


def test_waits_shorter_than_whats_left_are_kept_with_their_rule() -> None:
    assert Timeouts.for_attempt((1.0, 2.0, 3.0, 4.0), "stall", 5.0) == (
        (1.0, 2.0, 3.0, 4.0),
        "stall",
    )


def test_each_wait_longer_than_whats_left_is_cut_to_it() -> None:
    assert Timeouts.for_attempt((1.0, 20.0, 3.0, 40.0), "read", 2.5) == (
        (1.0, 2.5, 2.5, 2.5),
        "deadline",
    )


def test_a_read_cut_by_the_deadline_is_the_deadlines() -> None:
    assert Timeouts.for_attempt((9.0, 9.0, 9.0, 9.0), "stall", 8.0)[1] == "deadline"


def test_a_read_equal_to_whats_left_keeps_its_rule() -> None:
    assert Timeouts.for_attempt((9.0, 8.0, 9.0, 9.0), "read", 8.0) == (
        (8.0, 8.0, 8.0, 8.0),
        "read",
    )


def test_a_cut_that_spares_the_read_keeps_its_rule() -> None:
    assert Timeouts.for_attempt((9.0, 1.0, 9.0, 9.0), "stall", 2.0) == (
        (2.0, 1.0, 2.0, 2.0),
        "stall",
    )


def test_waits_without_limit_become_whats_left() -> None:
    assert Timeouts.for_attempt((None, None, None, None), "read", 3.0) == (
        (3.0, 3.0, 3.0, 3.0),
        "deadline",
    )
