"""A streamed response's pipeline: body pieces → events → what the caller's parser makes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

from langchain_nebula._http.decoding import EventReader
from langchain_nebula.errors import NebulaError

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

__all__ = ["EventParser", "EventPipeline"]


class EventParser(Protocol[T_co]):
    """What a streamed call feeds: one event's ``data`` at a time.

    ``feed`` returns what the event completes (or ``None``); ``done`` turns true when
    the parser needs no more input; ``end`` is called when the body ends and raises if
    the stream was cut short. The same verbs as ``SSEDecoder`` and ``ThinkTagSplitter``.
    """

    @property
    def done(self) -> bool:
        """Whether the stream's terminating event has been seen."""
        ...

    def feed(self, data: bytes) -> T_co | None:
        """Maps one event's data."""
        ...

    def end(self) -> None:
        """Called when the body ended; raises if the stream was incomplete."""
        ...

    def held(self) -> T_co | None:
        """What the parser holds back undecided, handed out when the stream fails."""
        ...


class EventPipeline(Generic[T]):
    """One streamed response's pipeline: body pieces → events → the parser's output.

    Each item is handed out as soon as the parser makes it: when a later event of the
    same network read raises (an error event, a malformed one), everything before it
    has already been delivered, and ``yielded`` says so.
    """

    __slots__ = ("_parser", "_reader", "yielded")

    def __init__(self, parser: EventParser[T], reader: EventReader) -> None:
        self._parser = parser
        self._reader = reader
        self.yielded = False

    @property
    def done(self) -> bool:
        """Whether the parser has seen the stream's terminating event."""
        return self._parser.done

    def feed(self, raw: bytes) -> Iterator[T]:
        """Yields what ``raw`` (a piece of the body) completes."""
        return self._run(self._reader.feed(raw))

    def end(self) -> Iterator[T]:
        """Yields what the end of the body completes; raises if it came too soon."""
        yield from self._run(self._reader.end())
        if not self._parser.done:
            try:
                self._parser.end()
            except NebulaError:
                yield from self.held()
                raise

    def held(self) -> Iterator[T]:
        """Yields what the parser held back: the stream failed, nothing will decide it."""
        item = self._parser.held()
        if item is not None:
            self.yielded = True
            yield item

    def _run(self, events: list[bytes]) -> Iterator[T]:
        parser = self._parser
        for data in events:
            try:
                item = parser.feed(data)
            except NebulaError:
                yield from self.held()
                raise
            if item is not None:
                self.yielded = True
                yield item
            if parser.done:
                return
        if (failure := self._reader.failure) is not None:
            yield from self.held()
            raise failure  # met in the same read, after the events just handed out
