"""Separating a reasoning model's thinking from its answer. Pure, no I/O.

Servers deliver reasoning in one of three ways: a ``reasoning_content`` field, a
``reasoning`` field (newer vLLM), or inline as ``<think>…</think>answer`` in ``content``,
often without the opening tag because the chat template already emitted it.

The rule, the same for invoke and stream: text is reasoning only when the reply shows
it is — a reasoning field, an opening ``<think>`` (or ``<thinking>``) at the start, or,
for a model known to think in tags, a ``</think>`` closing what came before it. A reply
that finishes normally with no such sign is the answer; one cut by ``max_tokens``
before any sign, from a model known to think, is unfinished reasoning. Whitespace
around the reasoning is trimmed, and so is the whitespace between it and the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

__all__ = [
    "ReasoningMode",
    "ReasoningParser",
    "ReasoningSplitter",
    "TrimmedText",
    "reasoning_field",
    "split_reasoning",
]

ReasoningParser = Literal["auto", "think_tags", "field", "none"]
"""The user's choice of where reasoning is read from (``ChatNebula.reasoning_parser``)."""
ReasoningMode = Literal["tags", "leading_tag", "field", "none"]
"""What one reply is read with: ``"tags"`` — fields, a leading opening tag, or text
before ``</think>``; ``"leading_tag"`` — fields or a leading opening tag; ``"field"`` —
fields only; ``"none"`` — a field passed through verbatim, the content as sent."""

_OPENERS = (("<think>", "</think>"), ("<thinking>", "</thinking>"))
_IMPLICIT_CLOSE = "</think>"

_START, _OPEN, _UNDECIDED, _ANSWER = 0, 1, 2, 3


def reasoning_field(message: Mapping[str, Any]) -> str | None:
    """The non-empty reasoning a server put in a message or delta field, if any."""
    value = message.get("reasoning_content")
    if not value:
        value = message.get("reasoning")
    return value if isinstance(value, str) and value else None


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that could be the start of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


class TrimmedText:
    """Streams one section of text with its surrounding whitespace trimmed.

    Leading whitespace is dropped; trailing whitespace is held back until more text
    follows it, and dropped if the section ends first.
    """

    __slots__ = ("_held", "_started")

    def __init__(self) -> None:
        self._held = ""
        self._started = False

    def feed(self, text: str) -> str:
        """Returns the part of ``text`` that is certainly inside the section."""
        if not self._started:
            text = text.lstrip()
            if not text:
                return ""
            self._started = True
        body = text.rstrip()
        out = self._held + body if body else ""
        self._held = text[len(body) :] if body else self._held + text
        return out

    @property
    def started(self) -> bool:
        """Whether any non-whitespace text has been seen."""
        return self._started


class ReasoningSplitter:
    """Splits content fed in arbitrary pieces into (reasoning, answer), by the rule above.

    No returned text ever contains part of a tag, however the pieces split it, and the
    cost is linear in the text however finely it is split.

    Args:
        implicit_open: The model thinks in tags whose opening tag the chat template
            emits: text before a ``</think>`` is reasoning even without ``<think>``. Such
            text is held back until the closing tag or the end decides what it is.

    Attributes:
        sectioned: Whether the reply had a reasoning section (tags, even if empty).
        unfinished: Whether the reply ended inside its reasoning.
    """

    __slots__ = (
        "_answer_ws",
        "_buffer",
        "_close",
        "_held",
        "_implicit",
        "_reasoning",
        "_state",
        "_tail",
        "sectioned",
        "unfinished",
    )

    def __init__(self, *, implicit_open: bool) -> None:
        self._implicit = implicit_open
        self._state = _START
        self._buffer = ""  # a short undecided stretch: a tag's possible start
        self._held: list[str] = []  # an undecided section, joined once decided
        self._tail = ""  # its last characters, where a closing tag may begin
        self._close = _IMPLICIT_CLOSE
        self._reasoning = TrimmedText()
        self._answer_ws = True  # drop whitespace before the answer (after a section)
        self.sectioned = False
        self.unfinished = False

    @property
    def decided(self) -> bool:
        """Whether all further text is plain answer (the splitter may be dropped)."""
        return self._state == _ANSWER and not self._answer_ws

    def feed(self, text: str) -> tuple[str, str]:
        """Returns the (reasoning, answer) text this piece completes."""
        if self._state == _ANSWER:
            return "", self._answer(text)
        if self._state == _UNDECIDED:
            return self._undecided(text)
        buffer = self._buffer + text if self._buffer else text
        self._buffer = ""
        if self._state == _START:
            buffer = self._start(buffer)
            if self._state == _START:
                return "", ""
            if self._state == _UNDECIDED:
                return self._undecided(buffer)
            if self._state == _ANSWER:
                return "", self._answer(buffer)
        end = buffer.find(self._close)
        if end >= 0:
            return self._close_section(buffer, end)
        keep = _partial_suffix(buffer, self._close)
        self._buffer = buffer[len(buffer) - keep :] if keep else ""
        return self._reasoning.feed(buffer[: len(buffer) - keep]), ""

    def end(self, finish_reason: Any = None) -> tuple[str, str]:
        """Returns what was held back when the content ends.

        Args:
            finish_reason: Why generation stopped; ``"length"`` inside an undecided
                section makes it unfinished reasoning rather than the answer.
        """
        held = "".join(self._held) if self._state == _UNDECIDED else self._buffer
        self._held, self._buffer, self._tail = [], "", ""
        if self._state == _OPEN:
            self.unfinished = True
            return self._reasoning.feed(held), ""
        if self._state in (_START, _UNDECIDED):
            if self._implicit and finish_reason == "length" and held.strip():
                self.sectioned = self.unfinished = True
                return self._reasoning.feed(held), ""
            self._state = _ANSWER
            return "", held
        return "", self._answer(held)

    def _start(self, buffer: str) -> str:
        stripped = buffer.lstrip()
        for opener, closer in _OPENERS:
            if stripped.startswith(opener):
                self._state, self._close, self.sectioned = _OPEN, closer, True
                return stripped[len(opener) :]
        if not stripped or any(opener.startswith(stripped) for opener, _ in _OPENERS):
            self._buffer = buffer  # whitespace, or a prefix such as "<thi": wait
            return ""
        if self._implicit:
            self._state = _UNDECIDED
        else:
            self._state = _ANSWER
            self._answer_ws = False
        return buffer

    def _undecided(self, text: str) -> tuple[str, str]:
        window = self._tail + text
        end = window.find(self._close)
        if end < 0:
            self._held.append(text)
            self._tail = window[-(len(self._close) - 1) :]
            return "", ""
        whole = "".join(self._held) + text
        self._held, self._tail = [], ""
        return self._close_section(whole, len(whole) - len(window) + end)

    def _close_section(self, buffer: str, end: int) -> tuple[str, str]:
        self.sectioned = True
        reasoning = self._reasoning.feed(buffer[:end])
        self._state = _ANSWER
        self._answer_ws = True
        return reasoning, self._answer(buffer[end + len(self._close) :])

    def _answer(self, text: str) -> str:
        if self._answer_ws:
            text = text.lstrip()
            self._answer_ws = not text
        return text


def split_reasoning(
    content: str, *, implicit_open: bool, finish_reason: Any = None
) -> tuple[str, str, bool]:
    """Splits a whole reply by the rule: ``(reasoning, answer, ended_in_reasoning)``."""
    splitter = ReasoningSplitter(implicit_open=implicit_open)
    reasoning, answer = splitter.feed(content)
    more_reasoning, more_answer = splitter.end(finish_reason)
    return reasoning + more_reasoning, answer + more_answer, splitter.unfinished
