"""The retry decision: when to try a failed request again, and after how long. Pure.

``Retrying`` holds one logical request's retry state and returns waits; it never
sleeps, so the sync and async transports share it and differ only in how they wait.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

from langchain_nebula._provider import PROVIDER_NAME
from langchain_nebula.errors import NebulaError, deadline_error

__all__ = ["RetryPolicy", "Retrying"]

logger = logging.getLogger("langchain_nebula")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before retrying a failed request.

    Attributes:
        max_retries: Retries after the first attempt (not attempts).
        max_wait: The longest server-requested wait honoured; a longer one fails at once.
        initial_backoff: The first backoff when the server names no wait.
        max_backoff: The cap on the exponential backoff.
        total_timeout: Seconds the whole call (all attempts and waits) may take.
        retry_accepted: Whether a request the server accepted (answered 2xx) may be
            sent again when its answer then fails without a status of its own (a
            stall, a dropped connection, a body cut short or unreadable). Off by
            default: the server may have generated, and billed, that answer already.
    """

    max_retries: int = 2
    max_wait: float = 60.0
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    total_timeout: float | None = None
    retry_accepted: bool = False

    def begin(self) -> Retrying:
        """Starts the retry bookkeeping for one logical request."""
        return Retrying(self)


class Retrying:
    """The retry state of one logical request (sans-I/O: it returns waits, never sleeps)."""

    __slots__ = ("_policy", "_resent_unsent", "deadline", "retries")

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self.retries = 0
        self._resent_unsent = False
        total = policy.total_timeout
        self.deadline = None if total is None else time.monotonic() + total

    def wait_or_raise(self, error: NebulaError, *, accepted: bool = False) -> float:
        """Returns the seconds to wait before the next attempt, or raises ``error``.

        Args:
            error: Why the attempt failed.
            accepted: Whether the server had answered the attempt with a 2xx status.
                Then only an error carrying a status of the server's own (an error
                event such as LiteLLM's in-band 429: nothing was generated) is
                retried, unless the policy's ``retry_accepted`` allows the rest.
        """
        policy = self._policy
        if error.unsent and not self._resent_unsent:
            # Once per request, at once and not counted: the request never reached the
            # server (a reused connection it had closed), so this is not a retry.
            self._resent_unsent = True
            return 0.0
        if not error.retryable or self.retries >= policy.max_retries:
            raise error
        if accepted and error.status_code is None and not policy.retry_accepted:
            error.message += (
                " (not sent again: the server had accepted the request and may have "
                "generated, and billed, an answer; retry_accepted_requests=True allows it)"
            )
            raise error
        wait = error.retry_after
        if wait is not None and wait > policy.max_wait:
            error.message += f" (the server asked to retry after {wait:.0f} s; not waiting)"
            raise error
        if wait is None:
            backoff = min(policy.initial_backoff * 2.0**self.retries, policy.max_backoff)
            wait = backoff * (1.0 - 0.25 * random.random())
        if self.deadline is not None and time.monotonic() + wait >= self.deadline:
            error.message += " (no time left to retry within total_timeout)"
            raise error
        self.retries += 1
        logger.debug(
            "%s request failed (%s); retry %d of %d in %.2f s",
            PROVIDER_NAME,
            error.message,
            self.retries,
            policy.max_retries,
            wait,
        )
        return wait

    def remaining(self) -> float | None:
        """Seconds left before the deadline (raising once it has passed), or ``None``."""
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise deadline_error()
        return left
