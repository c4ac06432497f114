"""Bounded memory, counted right: a stream line costs its bytes whatever the read sizes."""

from __future__ import annotations

import tracemalloc

from langchain_nebula._http.sse import SSEDecoder

LINE = 200_000


def _peak_while(feed: object) -> int:
    tracemalloc.start()
    try:
        feed()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_line_arriving_a_byte_per_read_costs_its_bytes_not_an_object_per_byte() -> None:
    decoder = SSEDecoder()
    line = b"data: " + b"x" * LINE

    def drip() -> None:
        for position in range(len(line)):
            assert decoder.feed(line[position : position + 1]) == []

    peak = _peak_while(drip)
    assert peak < 3 * LINE  # the line itself, plus a growth margin
    assert decoder.feed(b"\n\n") == [b"x" * LINE]


def test_a_line_arriving_in_uneven_pieces_is_joined_whole() -> None:
    decoder = SSEDecoder()
    line = b'data: {"a": "' + "é".encode() * 5000 + b'"}'
    pieces = [line[i : i + 7] for i in range(0, len(line), 7)]
    events = [event for piece in pieces for event in decoder.feed(piece)]
    assert events + decoder.feed(b"\r\n\r\n") == [line[6:]]
