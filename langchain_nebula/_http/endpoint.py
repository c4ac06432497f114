"""One configured request target, normalised once; the request path re-validates nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from langchain_nebula._http.decoding import EventReader, Inflater
from langchain_nebula._http.libraries import LIBRARIES, AsyncClient, Request, SyncClient, library_of
from langchain_nebula._http.retry import RetryPolicy
from langchain_nebula._http.timeouts import ReadRule, Timeouts, Waits
from langchain_nebula._redaction import Redactor

__all__ = ["Endpoint", "MaskedHeaders"]


class MaskedHeaders(dict[str, str]):
    """Request headers whose ``repr`` shows names only.

    They carry the bearer key and maybe other credentials (``default_headers``): a
    ``repr`` of them, or of a frame's locals in a traceback, must show neither.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(dict.fromkeys(self, "***"))

    __str__ = __repr__


def _extension(waits: Waits) -> dict[str, float | None]:
    connect, read, write, pool = waits
    return {"connect": connect, "read": read, "write": write, "pool": pool}


@dataclass(frozen=True, slots=True, repr=False)
class Endpoint:
    """One request target with everything a request to it needs.

    Attributes:
        url: The URL.
        headers: Every header sent, the bearer key included (never shown in ``repr``).
        redactor: Masks the key in anything an error keeps.
        retry: The retry policy.
        timeouts: The waits of each request.
        max_response_bytes: The cap on a decoded response body, and on one stream event.
        stall: Seconds a stream may go without an event, or ``None``.
        auth_hint: Added to a 401's message (why no key, or which key, was sent).
        method: The HTTP method.
    """

    url: str
    headers: Mapping[str, str]
    redactor: Redactor
    retry: RetryPolicy
    timeouts: Timeouts
    max_response_bytes: int
    stall: float | None = None
    auth_hint: str | None = None
    method: str = "POST"
    # Parsed once per library: a string URL is re-parsed on every request (~20 us).
    _parsed: dict[ModuleType, tuple[Any, Any]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        for library in LIBRARIES:
            self._parsed[library] = (library.URL(self.url), library.Headers(self.headers))

    def build_request(
        self, client: SyncClient | AsyncClient, body: bytes, *, stream: bool
    ) -> tuple[Request, ReadRule]:
        """Builds the request once, with the client's own library; retries resend it.

        Returns:
            The request, and the rule that bounds its read wait.
        """
        url, headers = self._parsed[library_of(client)]
        waits, rule = self.timeouts.for_request(
            client.timeout, stall=self.stall if stream else None
        )
        request = client.build_request(self.method, url, content=body or None, headers=headers)
        if waits is not None:
            request.extensions["timeout"] = _extension(waits)
        return request, rule

    def event_reader(self, headers: Mapping[str, str], deadline: float | None) -> EventReader:
        """The body-to-events reader for one streamed response."""
        return EventReader(
            Inflater(headers.get("content-encoding"), self.max_response_bytes),
            max_event_bytes=self.max_response_bytes,
            stall=self.stall,
            deadline=deadline,
        )

    def __repr__(self) -> str:
        return f"Endpoint({self.method} {self.url})"
