"""Every wait of a call, decided once from the settings. Pure.

The waits are connect, read, write and pool, a stream's stall and the whole call's
deadline.

A read can be bounded by three rules, and which one bounded it decides what a read
timeout means: ``"read"`` (the server was slow to answer), ``"stall"`` (a stream went
``stream_chunk_timeout`` seconds without an event) or ``"deadline"`` (``total_timeout``
ran out). ``Timeouts.for_request`` and ``for_attempt`` name the rule; nobody compares
numbers to guess it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from langchain_nebula._http.libraries import Timeout, http

__all__ = ["DEFAULT_TIMEOUT", "ReadRule", "Timeouts", "Waits"]

DEFAULT_TIMEOUT = http.Timeout(600.0, connect=5.0)

ReadRule = Literal["read", "stall", "deadline"]
"""Which rule bounds an attempt's read wait."""

Waits = tuple[float | None, float | None, float | None, float | None]
"""(connect, read, write, pool) seconds; ``None`` waits without limit."""


def _waits(timeout: Timeout) -> Waits:
    return (timeout.connect, timeout.read, timeout.write, timeout.pool)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """The waits of every request a client sends.

    Attributes:
        waits: (connect, read, write, pool) for our pooled clients, and for the
            user's own client when ``per_request`` is true.
        per_request: Whether ``waits`` are set on each request: the user passed both
            their own client and ``timeout=`` (otherwise their client's own apply).
        total: Seconds the whole call may take, all attempts included, or ``None``.
    """

    waits: Waits
    per_request: bool = False
    total: float | None = None

    @classmethod
    def from_settings(
        cls, timeout: float | Timeout | None, *, total: float | None, own_client: bool
    ) -> Timeouts:
        """Resolves the ``timeout`` and ``total_timeout`` settings.

        Args:
            timeout: Seconds, an httpx/httpx2 ``Timeout``, or ``None`` for the default
                (5 s to connect, 600 s for the rest).
            total: ``total_timeout``.
            own_client: Whether the user passed their own http client.
        """
        if timeout is None:
            resolved: Timeout = DEFAULT_TIMEOUT
        elif isinstance(timeout, float | int):
            resolved = http.Timeout(float(timeout))
        else:
            resolved = timeout
        return cls(_waits(resolved), per_request=own_client and timeout is not None, total=total)

    def for_request(
        self, client_timeout: Timeout, *, stall: float | None
    ) -> tuple[Waits | None, ReadRule]:
        """The waits to set on a request (``None``: the client's own) and its read rule.

        A stream's read wait is bounded by ``stall`` when that is shorter: bytes that
        never come are a stall too.
        """
        connect, read, write, pool = self.waits if self.per_request else _waits(client_timeout)
        if stall is not None and (read is None or read > stall):
            return (connect, stall, write, pool), "stall"
        return (self.waits if self.per_request else None), "read"

    @staticmethod
    def for_attempt(waits: Waits, rule: ReadRule, left: float) -> tuple[Waits, ReadRule]:
        """Bounds each wait of one attempt by ``left``, the seconds before the deadline."""
        connect, read, write, pool = (left if w is None else min(w, left) for w in waits)
        return (connect, read, write, pool), ("deadline" if read != waits[1] else rule)
