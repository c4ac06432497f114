r"""Server-sent events framing: a push parser from body bytes to event data. Pure.

Generic wire framing, nothing about chat: the transport feeds body bytes in whatever
pieces the network delivers (a piece may end inside a UTF-8 character or between the
``\r`` and ``\n`` of a line end) and gets back the ``data`` of each completed event.
"""

from __future__ import annotations

from langchain_nebula.errors import NebulaStreamError

__all__ = ["SSEDecoder"]

_BOM = b"\xef\xbb\xbf"


class SSEDecoder:
    r"""Splits an SSE byte stream into the ``data`` payloads of its events.

    Only ``data:`` fields matter to these APIs; comments (``: keep-alive``) and the
    ``event``/``id``/``retry`` fields are skipped. A UTF-8 byte order mark before the
    first event is ignored, as the SSE standard requires.

    Args:
        max_event_bytes: The largest event (or unfinished line) buffered; a larger one
            raises ``NebulaStreamError`` rather than growing memory without bound.

    Example:
        .. code-block:: python

            decoder = SSEDecoder()
            decoder.feed(b'data: {"a": 1}\n\nda')  # [b'{"a": 1}']
            decoder.feed(b"ta: [DONE]\n\n")  # [b"[DONE]"]
            decoder.end()  # []
    """

    __slots__ = ("_data", "_limit", "_pending", "_size", "_started", "failure")

    def __init__(self, max_event_bytes: int = 32 * 1024 * 1024) -> None:
        # An unfinished line, grown in place: a long line arriving a byte per read
        # costs its bytes (not an object per piece) and linear, not quadratic, time.
        self._pending = bytearray()
        self._data: list[bytes] = []
        self._size = 0
        self._limit = max_event_bytes
        self._started = False
        # An oversized event or line met after others completed in the same piece:
        # those are returned first, and this is raised by the next call (the reader
        # of the events may raise it as soon as it has handed them out).
        self.failure: NebulaStreamError | None = None

    def feed(self, piece: bytes) -> list[bytes]:
        """Returns the data of every event that ``piece`` completes."""
        if self.failure is not None:
            raise self.failure
        if not self._started:
            piece = self._skip_bom(piece)
        if b"\n" not in piece and b"\r" not in piece:
            self._hold(piece)
            return []
        if self._pending:
            self._pending += piece
            buffer = bytes(self._pending)
            self._pending = bytearray()
        else:
            buffer = piece
        if b"\r" in buffer:
            # A trailing CR may be the first half of CRLF: wait for the next piece.
            held = buffer.endswith(b"\r")
            if held:
                buffer = buffer[:-1]
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if held:
                buffer += b"\r"
        lines = buffer.split(b"\n")
        tail = lines.pop()
        events: list[bytes] = []
        try:
            for line in lines:
                if not line:
                    if self._data:
                        data = self._data
                        events.append(data[0] if len(data) == 1 else b"\n".join(data))
                        self._data = []
                        self._size = 0
                elif line.startswith(b"data:"):
                    value = line[6:] if line[5:6] == b" " else line[5:]
                    self._size += len(value)
                    if self._size > self._limit:
                        msg = f"a stream event exceeded {self._limit} bytes"
                        raise NebulaStreamError(msg)
                    self._data.append(value)
            self._hold(tail)
        except NebulaStreamError as error:
            if not events:
                raise
            self.failure = error
        return events

    def end(self) -> list[bytes]:
        """Call when the body ends; returns an event left unterminated."""
        if self.failure is not None:
            raise self.failure
        return self.feed(b"\n\n") if self._pending or self._data else []

    def _skip_bom(self, piece: bytes) -> bytes:
        # The mark may itself arrive split; decide once three bytes (or a mismatch) are in.
        seen = bytes(self._pending) + piece
        if len(seen) < len(_BOM) and _BOM.startswith(seen):
            self._pending = bytearray(seen)
            return b""
        self._started = True
        self._pending = bytearray()
        return seen[len(_BOM) :] if seen.startswith(_BOM) else seen

    def _hold(self, partial_line: bytes) -> None:
        if partial_line:
            self._pending += partial_line
            if len(self._pending) > self._limit:
                msg = f"a stream line exceeded {self._limit} bytes without ending"
                raise NebulaStreamError(msg)
