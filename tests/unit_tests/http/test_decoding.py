"""Response bodies within budget, exactly: decoding, size caps and the stream clocks."""

from __future__ import annotations

import gzip
import zlib

import pytest

from langchain_nebula import NebulaResponseError, NebulaTimeoutError
from langchain_nebula._http import decoding as _body
from langchain_nebula._http.decoding import EventReader, Inflater
from langchain_nebula.errors import deadline_error, too_large_error

TOO_LARGE = (
    "the response body exceeded max_response_bytes=10 (after decompression); "
    "raise max_response_bytes if such answers are expected"
)


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def refused(inflater: Inflater, *pieces: bytes) -> NebulaResponseError:
    *first, last = pieces
    for piece in first:
        inflater.feed(piece)
    with pytest.raises(NebulaResponseError) as caught:
        inflater.feed(last)
    assert type(caught.value) is NebulaResponseError
    assert caught.value.retryable is False
    return caught.value


# -- content encodings -------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", [None, "identity", "", " Identity ", "  "])
def test_an_identity_body_is_passed_through(encoding: str | None) -> None:
    inflater = Inflater(encoding, 100)
    assert inflater.identity is True
    assert inflater.feed(b"abc") == [b"abc"]
    assert inflater.end() == []


@pytest.mark.parametrize(
    ("encoding", "pack"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("GZIP ", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", raw_deflate),
    ],
    ids=["gzip", "x-gzip", "spaced", "deflate", "raw-deflate"],
)
def test_each_encoding_is_decoded(encoding: str, pack: object) -> None:
    inflater = Inflater(encoding, 1000)
    assert inflater.identity is False
    body = b"hello " * 50
    packed = pack(body)  # type: ignore[operator]
    assert b"".join(inflater.feed(packed[:7]) + inflater.feed(packed[7:]) + inflater.end()) == body


def test_a_compressed_body_read_whole_leaves_nothing_for_end() -> None:
    inflater = Inflater("gzip", 1000)
    assert inflater.feed(gzip.compress(b"abc")) == [b"abc"]
    assert inflater.end() == []


def test_a_deflate_body_that_is_neither_zlib_nor_raw_deflate_is_refused() -> None:
    error = refused(Inflater("deflate", 100), b"\xff\xff\xff\xff")
    assert error.message == (
        "the response body could not be decompressed: "
        "Error -3 while decompressing data: invalid block type"
    )


def test_an_encoding_that_was_not_asked_for_is_refused() -> None:
    with pytest.raises(NebulaResponseError) as caught:
        Inflater(" BR ", 100)
    assert caught.value.message == "the server sent Content-Encoding 'br', which was not asked for"


def test_a_corrupt_body_is_refused_with_zlibs_reason() -> None:
    error = refused(Inflater("gzip", 100), b"not gzip at all")
    assert error.message == (
        "the response body could not be decompressed: "
        "Error -3 while decompressing data: incorrect header check"
    )


def test_a_deflate_body_that_started_well_is_not_reread_as_raw_deflate() -> None:
    packed = zlib.compress(b"hello " * 50)
    error = refused(Inflater("deflate", 1000), packed[:-4], b"\x00\x00\x00\x00")
    assert error.message == (
        "the response body could not be decompressed: "
        "Error -3 while decompressing data: incorrect data check"
    )


def test_decoded_pieces_are_at_most_one_mebibyte() -> None:
    inflater = Inflater("gzip", 10 << 20)
    sizes = [len(piece) for piece in inflater.feed(gzip.compress(b"0" * (2 << 20) + b"1"))]
    assert sizes == [1 << 20, 1 << 20, 1]


def _cut_inside_a_step(packed: bytes) -> int:
    """A prefix length whose last bytes decode past a 1 MiB step with output pending."""
    whole = zlib.decompressobj()
    total = 0
    for cut in range(1, len(packed) + 1):
        total += len(whole.decompress(packed[cut - 1 : cut]))
        if total > 1 << 20:
            probe = Inflater("deflate", 1 << 30)
            if sum(len(piece) for piece in probe.feed(packed[:cut])) < total:
                return cut
    raise AssertionError("no such cut")  # pragma: no cover


def test_output_still_pending_when_a_body_ends_is_released_by_end() -> None:
    packer = zlib.compressobj(9)
    events = b"data: x\n\n" * 130_000  # > 1 MiB of events
    packed = packer.compress(events) + packer.flush(zlib.Z_SYNC_FLUSH)
    cut = _cut_inside_a_step(packed)
    stream = EventReader(
        Inflater("deflate", 1 << 30), max_event_bytes=100, stall=None, deadline=None
    )
    fed = stream.feed(packed[:cut])
    ended = stream.end()
    assert len(ended) > 0
    plain = EventReader(Inflater(None, 1 << 30), max_event_bytes=100, stall=None, deadline=None)
    decoded = zlib.decompressobj().decompress(packed[:cut])
    assert fed + ended == plain.feed(decoded) + plain.end()


# -- the byte budget ---------------------------------------------------------------------------


def test_a_body_of_exactly_the_limit_is_accepted() -> None:
    inflater = Inflater(None, 10)
    assert inflater.feed(b"12345") + inflater.feed(b"67890") == [b"12345", b"67890"]


def test_a_body_over_the_limit_is_refused() -> None:
    error = refused(Inflater(None, 10), b"12345", b"678901")
    assert error.message == TOO_LARGE


def test_a_decoded_body_one_byte_over_a_full_step_is_refused_as_it_is_fed() -> None:
    error = refused(Inflater("gzip", 1 << 20), gzip.compress(b"z" * ((1 << 20) + 1)))
    assert error.message == TOO_LARGE.replace("=10 ", f"={1 << 20} ")


def test_a_decoded_body_over_the_limit_is_refused() -> None:
    error = refused(Inflater("gzip", 10), gzip.compress(b"x" * 11))
    assert error.message == TOO_LARGE


def test_too_large_error_names_the_limit() -> None:
    error = too_large_error(10)
    assert (type(error), error.message, error.retryable) == (NebulaResponseError, TOO_LARGE, False)


def test_a_truncating_inflater_keeps_the_first_bytes_and_drops_the_rest() -> None:
    inflater = Inflater(None, 10, truncate=True)
    assert inflater.feed(b"1234567") + inflater.feed(b"89012") + inflater.feed(b"345") == [
        b"1234567",
        b"890",
        b"",
    ]


def test_a_truncated_compressed_body_stops_decoding_and_ends_empty() -> None:
    inflater = Inflater("gzip", 10, truncate=True)
    pieces = inflater.feed(gzip.compress(b"y" * (3 << 20)))
    assert pieces == [b"y" * 10]
    assert inflater.end() == []


# -- the stream clocks ---------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(_body, "time", fake)
    return fake


def reader(stall: float | None = None, deadline: float | None = None) -> EventReader:
    return EventReader(
        Inflater(None, 1 << 20), max_event_bytes=1000, stall=stall, deadline=deadline
    )


def test_events_are_returned_as_they_complete() -> None:
    events = reader()
    assert events.feed(b"data: a\n\ndata: b") == [b"a"]
    assert events.end() == [b"b"]


def test_a_compressed_stream_is_decoded_before_framing() -> None:
    events = EventReader(Inflater("gzip", 1000), max_event_bytes=100, stall=None, deadline=None)
    packed = gzip.compress(b"data: a\n\ndata: b\n\n")
    assert events.feed(packed[:12]) + events.feed(packed[12:]) + events.end() == [b"a", b"b"]


def test_a_stall_of_exactly_the_timeout_is_allowed(clock: Clock) -> None:
    events = reader(stall=5.0)
    clock.now += 5.0
    assert events.feed(b": keep-alive\n") == []


def test_a_stall_longer_than_the_timeout_raises(clock: Clock) -> None:
    events = reader(stall=0.5)
    clock.now += 0.6
    with pytest.raises(NebulaTimeoutError) as caught:
        events.feed(b": keep-alive\n")
    assert caught.value.message == (
        "the stream produced no event for 0.5 s (stream_chunk_timeout); the server may be stuck"
    )
    assert caught.value.retryable is True


def test_each_event_restarts_the_stall_clock(clock: Clock) -> None:
    events = reader(stall=5.0)
    clock.now += 4.0
    assert events.feed(b"data: a\n\n") == [b"a"]
    clock.now += 4.0
    assert events.feed(b"da") == []
    clock.now += 4.0
    assert events.feed(b"ta: b\n\n") == [b"b"]


def test_bytes_that_complete_no_event_do_not_restart_the_stall_clock(clock: Clock) -> None:
    events = reader(stall=5.0)
    clock.now += 4.0
    events.feed(b"da")
    clock.now += 4.0
    with pytest.raises(NebulaTimeoutError):
        events.feed(b"ta")


def test_reaching_the_deadline_exactly_is_allowed(clock: Clock) -> None:
    events = reader(deadline=110.0)
    clock.now = 110.0
    assert events.feed(b"data: a\n\n") == [b"a"]


def test_passing_the_deadline_raises_even_with_events_flowing(clock: Clock) -> None:
    events = reader(stall=100.0, deadline=110.0)
    clock.now = 110.5
    with pytest.raises(NebulaTimeoutError) as caught:
        events.feed(b"data: a\n\n")
    assert caught.value.message == "the call did not finish within total_timeout"
    assert caught.value.retryable is False


def test_a_deadline_alone_is_enforced(clock: Clock) -> None:
    events = reader(deadline=110.0)
    clock.now = 111.0
    with pytest.raises(NebulaTimeoutError):
        events.feed(b": ping\n")


def test_without_a_stall_timeout_or_deadline_time_does_not_matter(clock: Clock) -> None:
    events = reader()
    clock.now += 1e9
    assert events.feed(b": ping\n") == []


def test_the_stall_error_names_its_timeout() -> None:
    error = reader(stall=30.0).stalled()
    assert (type(error), error.retryable) == (NebulaTimeoutError, True)
    assert error.message == (
        "the stream produced no event for 30 s (stream_chunk_timeout); the server may be stuck"
    )


def test_the_deadline_error_is_a_final_timeout() -> None:
    error = deadline_error()
    assert (type(error), error.retryable) == (NebulaTimeoutError, False)
    assert error.message == "the call did not finish within total_timeout"
