from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event a held reply waits on: set when the test ends, or 2 s in at the latest.

    A right answer to a held reply is a timeout well before then; the 2 s bound only
    ends the wait of a wrong one (which then gets the reply, and fails the test).
    """
    event = threading.Event()
    timer = threading.Timer(2.0, event.set)
    timer.start()
    yield event
    event.set()
    timer.cancel()
