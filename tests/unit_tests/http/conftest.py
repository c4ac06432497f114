from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event a held reply waits on; set when the test ends, so the server moves on."""
    event = threading.Event()
    yield event
    event.set()
