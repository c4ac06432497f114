"""Server-sent events framing, exactly: which bytes become which event payloads.

``SSEDecoder`` is fed body pieces as the network splits them; these tests pin the
payloads it returns for every line ending, field form and split, and the limits.
"""

from __future__ import annotations

import pytest

from langchain_nebula import NebulaStreamError
from langchain_nebula._http.sse import SSEDecoder

BOM = b"\xef\xbb\xbf"


def decode(*pieces: bytes, limit: int = 1 << 20) -> list[list[bytes]]:
    """What each piece returns, then what ``end`` returns."""
    decoder = SSEDecoder(limit)
    return [decoder.feed(piece) for piece in pieces] + [decoder.end()]


def test_one_event_is_its_data() -> None:
    assert decode(b'data: {"a": 1}\n\n') == [[b'{"a": 1}'], []]


def test_each_event_of_a_piece_is_returned_in_order() -> None:
    assert decode(b"data: a\n\ndata: b\n\n") == [[b"a", b"b"], []]


@pytest.mark.parametrize(
    ("line", "data"),
    [
        (b"data: x", b"x"),
        (b"data:x", b"x"),
        (b"data:  x", b" x"),
        (b"data:", b""),
        (b"data: ", b""),
    ],
)
def test_one_space_after_the_colon_is_dropped_and_no_more(line: bytes, data: bytes) -> None:
    assert decode(line + b"\n\n") == [[data], []]


def test_the_data_lines_of_one_event_are_joined_by_newlines() -> None:
    assert decode(b"data: a\ndata: b\ndata: c\n\n") == [[b"a\nb\nc"], []]


def test_comments_and_other_fields_are_skipped() -> None:
    stream = b": keep-alive\nevent: message\nid: 7\nretry: 100\ndata: y\n\n"
    assert decode(stream) == [[b"y"], []]


def test_blank_lines_without_data_are_no_event() -> None:
    assert decode(b"\n\n: ping\n\n") == [[], []]


@pytest.mark.parametrize(
    "stream",
    [
        b"data: a\r\ndata: b\r\n\r\n",
        b"data: a\rdata: b\r\r",
        b"data: a\ndata: b\n\n",
        b"data: a\r\ndata: b\n\r\n",
    ],
    ids=["crlf", "cr", "lf", "mixed"],
)
def test_every_line_ending_frames_the_same_event(stream: bytes) -> None:
    assert [event for events in decode(stream) for event in events] == [b"a\nb"]


def test_an_event_ended_by_carriage_returns_is_returned_at_once() -> None:
    assert decode(b"data: a\r\rdata: b")[0] == [b"a"]


def test_a_carriage_return_ending_a_piece_waits_for_a_possible_line_feed() -> None:
    assert decode(b"data: a\r\r") == [[], [b"a"]]


def test_a_crlf_split_between_pieces_is_one_line_end() -> None:
    assert decode(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n") == [[], [], [], [b"a\nb"], []]


def test_a_line_split_across_pieces_is_joined() -> None:
    assert decode(b"da", b"ta: par", b"tial", b"\n\n") == [[], [], [], [b"partial"], []]


def test_end_returns_an_event_left_without_its_blank_line() -> None:
    assert decode(b"data: last\n") == [[], [b"last"]]


def test_end_returns_a_line_left_without_its_line_end() -> None:
    assert decode(b"data: last") == [[], [b"last"]]


def test_end_after_complete_events_returns_nothing() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: a\n\n")
    assert decoder.end() == []


def test_end_of_an_empty_body_returns_nothing() -> None:
    assert SSEDecoder().end() == []


# -- the byte order mark -------------------------------------------------------------------


def test_a_byte_order_mark_before_the_first_event_is_skipped() -> None:
    assert decode(BOM + b"data: a\n\n") == [[b"a"], []]


def test_a_byte_order_mark_split_across_pieces_is_skipped() -> None:
    assert decode(b"\xef", b"\xbb", b"\xbfdata: a\n\n") == [[], [], [b"a"], []]


def test_a_byte_order_mark_alone_then_events_is_skipped() -> None:
    assert decode(b"\xef\xbb", b"\xbf", b"data: a\n\n") == [[], [], [b"a"], []]


def test_a_byte_order_mark_after_the_first_piece_is_not_skipped() -> None:
    # The standard strips it only at the very start: later it spoils its line.
    assert decode(b"data: a\n\n", BOM + b"data: b\n\n", b"data: c\n\n") == [
        [b"a"],
        [],
        [b"c"],
        [],
    ]


def test_bytes_that_only_begin_like_a_byte_order_mark_are_kept() -> None:
    assert decode(b"\xef", b"data: a\n\n", b"data: b\n\n") == [[], [], [b"b"], []]


def test_an_empty_first_piece_changes_nothing() -> None:
    assert decode(b"", BOM + b"data: a\n\n") == [[], [b"a"], []]


# -- limits ------------------------------------------------------------------------------------


def test_an_event_of_exactly_the_limit_is_returned() -> None:
    assert decode(b"data: " + b"y" * 10 + b"\n\n", limit=10) == [[b"y" * 10], []]


def test_each_event_has_the_whole_limit() -> None:
    event = b"data: " + b"y" * 10 + b"\n\n"
    assert decode(event, event, limit=10) == [[b"y" * 10], [b"y" * 10], []]


def test_an_event_over_the_limit_is_refused() -> None:
    decoder = SSEDecoder(10)
    with pytest.raises(NebulaStreamError) as caught:
        decoder.feed(b"data: " + b"y" * 11 + b"\n\n")
    assert type(caught.value) is NebulaStreamError
    assert caught.value.message == "a stream event exceeded 10 bytes"
    assert caught.value.retryable is False


def test_the_data_lines_of_one_event_count_together_towards_the_limit() -> None:
    decoder = SSEDecoder(10)
    with pytest.raises(NebulaStreamError) as caught:
        decoder.feed(b"data: 123456\ndata: 123456\n")
    assert caught.value.message == "a stream event exceeded 10 bytes"


def test_an_unfinished_line_of_exactly_the_limit_is_held() -> None:
    assert decode(b"x" * 10, limit=10)[0] == []


def test_an_unfinished_line_over_the_limit_is_refused() -> None:
    decoder = SSEDecoder(10)
    decoder.feed(b"data: 1234")
    with pytest.raises(NebulaStreamError) as caught:
        decoder.feed(b"56789")
    assert caught.value.message == "a stream line exceeded 10 bytes without ending"


def test_the_line_limit_starts_afresh_after_each_line_end() -> None:
    decoder = SSEDecoder(10)
    decoder.feed(b": 345678")
    assert decoder.feed(b"\n" + b": 34567890") == []
    assert decoder.feed(b"\n\n") == []


def test_the_line_limit_does_not_count_a_skipped_byte_order_mark() -> None:
    assert decode(BOM + b"x" * 10, limit=10)[0] == []
