"""Separating a reasoning model's thinking from its answer. Pure, no I/O.

Servers deliver reasoning in one of three ways: a ``reasoning_content`` field, a
``reasoning`` field (newer vLLM), or inline as ``<think>…</think>answer`` in ``content``,
often without the opening tag because the chat template already emitted it. The fields
need no parsing; ``ThinkTagSplitter`` handles the inline form, fed text in pieces that
may split a tag anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

__all__ = ["ReasoningParser", "ThinkTagSplitter", "reasoning_field", "split_think_tags"]

ReasoningParser = Literal["auto", "think_tags", "field", "none"]

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"

_START, _REASONING, _ANSWER = 0, 1, 2


def reasoning_field(message: Mapping[str, Any]) -> str | None:
    """The reasoning a server put in a message or delta field, if any."""
    value = message.get("reasoning_content")
    if value is None:
        value = message.get("reasoning")
    return value if isinstance(value, str) else None


def _partial_tag_length(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that could be the start of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


class ThinkTagSplitter:
    """Splits ``[<think>]reasoning</think>answer`` text fed in arbitrary pieces.

    Everything before ``</think>`` is reasoning (the opening tag is optional); everything
    after is the answer. Text that might be the start of a tag is held back until the
    next piece decides it, so no returned text ever contains part of a tag. Whitespace
    around the tags is dropped.
    """

    __slots__ = ("_held", "_started", "_state")

    def __init__(self) -> None:
        self._state = _START
        self._held = ""
        self._started = False  # whether the current section has emitted text yet

    def feed(self, text: str) -> tuple[str, str]:
        """Returns the (reasoning, answer) text this piece completes."""
        buffer = self._held + text if self._held else text
        self._held = ""
        if self._state == _START:
            stripped = buffer.lstrip()
            if stripped.startswith(OPEN_TAG):
                buffer = stripped[len(OPEN_TAG) :]
            elif OPEN_TAG.startswith(stripped):
                self._held = buffer  # "", whitespace, or a prefix such as "<thi"
                return "", ""
            self._state = _REASONING
        reasoning = ""
        if self._state == _REASONING:
            end = buffer.find(CLOSE_TAG)
            if end < 0:
                return self._reasoning_text(buffer, final=False), ""
            reasoning = self._reasoning_text(buffer[:end], final=True)
            buffer = buffer[end + len(CLOSE_TAG) :]
            self._state = _ANSWER
            self._started = False
        return reasoning, self._answer_text(buffer)

    def finish(self) -> tuple[str, str]:
        """Returns what was held back when the text ends."""
        held, self._held = self._held, ""
        if self._state == _ANSWER:
            return "", held
        return self._reasoning_text(held, final=True), ""

    def _reasoning_text(self, text: str, *, final: bool) -> str:
        if not final:
            # Hold back a possible partial closing tag and trailing whitespace (which is
            # dropped if the tag follows).
            partial = _partial_tag_length(text, CLOSE_TAG)
            body = text[: len(text) - partial]
            kept = body.rstrip()
            self._held = text[len(kept) :]
            text = kept
        else:
            text = text.rstrip()
        if not self._started:
            text = text.lstrip()
            self._started = bool(text)
        return text

    def _answer_text(self, text: str) -> str:
        if not self._started:
            text = text.lstrip()
            self._started = bool(text)
        return text


def split_think_tags(text: str) -> tuple[str, str]:
    """Splits a whole ``[<think>]reasoning</think>answer`` text into its two parts."""
    splitter = ThinkTagSplitter()
    reasoning, answer = splitter.feed(text)
    more_reasoning, more_answer = splitter.finish()
    return reasoning + more_reasoning, answer + more_answer
