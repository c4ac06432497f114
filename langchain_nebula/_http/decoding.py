"""Response bodies on the wire: size caps, content decoding, event framing. Pure.

The transport's sans-I/O half: it decodes what a server sends within a byte budget
(however the body is compressed), and turns a streamed body into event payloads
while watching the clock. Nothing here knows about chat.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

from langchain_nebula._http.sse import SSEDecoder
from langchain_nebula.errors import (
    NebulaResponseError,
    NebulaStreamError,
    NebulaTimeoutError,
    deadline_error,
    stall_error,
    too_large_error,
)

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "EventReader", "Inflater"]

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
# The largest piece one decompression step may produce: a small compressed piece can
# inflate a thousandfold, so output is taken in slices of this size.
_INFLATE_STEP = 1024 * 1024


class Inflater:
    """Decodes a body's ``Content-Encoding`` within a byte budget, piece by piece.

    Args:
        encoding: The ``Content-Encoding`` header value (``None`` for identity).
        limit: The most decoded bytes accepted in all.
        truncate: Past ``limit``, drop the rest instead of raising (for error bodies,
            which are only read for their message).

    Raises:
        NebulaResponseError: On an encoding it cannot decode, corrupt data, or more
            than ``limit`` decoded bytes; never after allocating much more than that.
    """

    __slots__ = ("_decoder", "_limit", "_raw_deflate_fallback", "_total", "_truncate")

    def __init__(self, encoding: str | None, limit: int, *, truncate: bool = False) -> None:
        self._limit = limit
        self._truncate = truncate
        self._total = 0
        self._raw_deflate_fallback = False
        kind = (encoding or "identity").strip().lower()
        if kind in ("identity", ""):
            self._decoder = None
        elif kind in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif kind == "deflate":
            # zlib-wrapped per the standard, but some servers send raw deflate: that
            # is tried if the first bytes are not a zlib header.
            self._decoder = zlib.decompressobj(zlib.MAX_WBITS)
            self._raw_deflate_fallback = True
        else:
            msg = f"the server sent Content-Encoding {kind!r}, which was not asked for"
            raise NebulaResponseError(msg)

    def feed(self, raw: bytes) -> list[bytes]:
        """Returns the decoded pieces of ``raw`` (each at most 1 MiB)."""
        if self._decoder is None:
            return [self._kept(raw)]
        try:
            return self._inflate(self._decoder, raw)
        except zlib.error as exc:
            if not self._raw_deflate_fallback:
                msg = f"the response body could not be decompressed: {exc}"
                raise NebulaResponseError(msg) from None
            self._raw_deflate_fallback = False
            self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
            return self.feed(raw)

    def _inflate(self, decoder: Any, data: bytes) -> list[bytes]:
        pieces: list[bytes] = []
        while data and self._total <= self._limit:
            piece = decoder.decompress(data, _INFLATE_STEP)
            self._raw_deflate_fallback = False  # the header was good: no fallback now
            if piece:
                pieces.append(self._kept(piece))
            data = decoder.unconsumed_tail
        return pieces

    def end(self) -> list[bytes]:
        """Returns what the decoder still held when the body ended."""
        if self._decoder is None or self._total > self._limit:
            return []
        rest = self._decoder.flush()
        return [self._kept(rest)] if rest else []

    @property
    def identity(self) -> bool:
        """Whether the body is sent as is (no content encoding)."""
        return self._decoder is None

    def _kept(self, piece: bytes) -> bytes:
        room = self._limit - self._total
        self._total += len(piece)
        if len(piece) <= room:
            return piece
        if not self._truncate:
            raise too_large_error(self._limit)
        return piece[: max(room, 0)]


class EventReader:
    """A streamed body's bytes → event payloads, under a stall timeout and a deadline.

    Keep-alive comments and bytes dripping in without completing an event do not count
    as progress: once ``stall`` seconds pass without a complete event (or the
    ``deadline`` on ``time.monotonic()`` passes), ``feed`` raises.

    Args:
        inflater: Decodes the body's content encoding within the byte budget.
        stall: Seconds allowed between events, or ``None`` for no limit.
        deadline: The ``time.monotonic()`` by which the whole call must end, or ``None``.
    """

    __slots__ = ("_deadline", "_decoder", "_inflater", "_last", "_stall")

    def __init__(
        self,
        inflater: Inflater,
        *,
        max_event_bytes: int,
        stall: float | None,
        deadline: float | None,
    ) -> None:
        self._inflater = inflater
        self._decoder = SSEDecoder(max_event_bytes)
        self._stall = stall
        self._deadline = deadline
        self._last = time.monotonic()

    def feed(self, raw: bytes) -> list[bytes]:
        """Returns the payloads of the events that ``raw`` completes."""
        if self._inflater.identity:  # a stream's length is not capped, only each event
            events = self._decoder.feed(raw)
        else:
            events = []
            for piece in self._inflater.feed(raw):
                events.extend(self._decoder.feed(piece))
        if self._stall is not None or self._deadline is not None:
            self._check_clock(bool(events))
        return events

    def end(self) -> list[bytes]:
        """Returns the payloads left when the body ended."""
        events: list[bytes] = []
        for piece in self._inflater.end():
            events.extend(self._decoder.feed(piece))
        events.extend(self._decoder.end())
        return events

    def _check_clock(self, progressed: bool) -> None:
        now = time.monotonic()
        if self._deadline is not None and now > self._deadline:
            raise deadline_error()
        if progressed:
            self._last = now
        elif self._stall is not None and now - self._last > self._stall:
            raise self.stalled()

    @property
    def failure(self) -> NebulaStreamError | None:
        """An error met after the events last returned, raised once they are handed out."""
        return self._decoder.failure

    def stalled(self) -> NebulaTimeoutError:
        """The error for a stream that produced no event within the stall timeout."""
        return stall_error(self._stall or 0.0)
