"""Keeping the API key out of everything a server sends back. Pure, no I/O.

A server may echo the key it rejected: whole, URL-encoded, JSON-escaped, or cut short
by its own truncation. ``Redactor`` replaces the key in each of those forms, and any
run of twelve or more of its characters, with ``***``. It is built once per connection
and applied to every piece of server text an error keeps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "Redactor"]

MASK = "***"
# Runs of the key this long are masked wherever they appear: a key is random, so twelve
# of its characters in a row are a fragment of it, and not a word that shares a few.
_FRAGMENT = 12
# Shorter keys are masked only whole; below this they are too short to be told from text.
_SHORTEST = 4
# ``may_hold`` looks for tiles this long: every run of _FRAGMENT characters of a form
# contains a whole tile starting at a multiple of _TILE.
_TILE = _FRAGMENT // 2


def _encodings(secret: str) -> set[str]:
    escaped = json.dumps(secret)[1:-1]
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        escaped,
        escaped.replace("/", "\\/"),
    }


class Redactor:
    """Masks one secret, its common encodings and long fragments of it in text.

    Args:
        secret: The API key; ``None`` (or a key under four characters) masks nothing.

    Example:
        .. code-block:: python

            Redactor("sk-0123456789abcdef").text("bad key sk-0123456789ab...")
            # 'bad key ***...'
    """

    __slots__ = ("_origins", "_pattern", "_tiles")

    def __init__(self, secret: str | None) -> None:
        # Each searched run of characters, and where it sits in which encoding, so a
        # hit can be grown to the longest stretch of the key around it.
        origins: dict[str, list[tuple[str, int]]] = {}
        if secret and len(secret) >= _SHORTEST:
            for form in _encodings(secret):
                size = min(_FRAGMENT, len(form))
                for start in range(len(form) - size + 1):
                    origins.setdefault(form[start : start + size], []).append((form, start))
        self._origins = origins
        tiles: set[bytes] = set()
        if secret and len(secret) >= _SHORTEST:
            for form in _encodings(secret):
                raw = form.encode("utf-8", "surrogatepass")
                if len(raw) < _FRAGMENT:
                    tiles.add(raw)  # matched only whole, so looked for whole
                else:
                    starts = range(0, len(raw) - _TILE + 1, _TILE)
                    tiles.update(raw[at : at + _TILE] for at in starts)
        self._tiles = tuple(tiles)
        runs = sorted(origins, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, runs))) if runs else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def may_hold(self, data: bytes) -> bool:
        """Whether ``data`` may hold what ``text`` masks: a few substring searches.

        No false negatives for the forms ``text`` masks, so a body without a hit needs
        no decoding or masking; a hit (rare: a tile is six characters of a random key)
        sends it through ``text`` or ``value``.
        """
        return any(tile in data for tile in self._tiles)

    def text(self, text: str) -> str:
        """Returns ``text`` with every occurrence or long fragment of the key masked."""
        pattern = self._pattern
        if pattern is None or not text:
            return text
        spans: list[tuple[int, int]] = []
        position = 0
        while (found := pattern.search(text, position)) is not None:
            span = self._grow(text, found.start(), found.end(), found.group())
            spans.append(span)
            position = span[1]
        if not spans:
            return text
        pieces: list[str] = []
        last = 0
        for start, end in spans:
            pieces.append(text[last:start])
            pieces.append(MASK)
            last = end
        pieces.append(text[last:])
        return "".join(pieces)

    def _grow(self, text: str, start: int, end: int, run: str) -> tuple[int, int]:
        best = (start, end)
        for form, offset in self._origins[run]:
            left, at = start, offset
            while left > 0 and at > 0 and text[left - 1] == form[at - 1]:
                left -= 1
                at -= 1
            right, at = end, offset + (end - start)
            while right < len(text) and at < len(form) and text[right] == form[at]:
                right += 1
                at += 1
            if right - left > best[1] - best[0]:
                best = (left, right)
        return best

    def value(self, value: Any) -> Any:
        """Returns ``value`` (parsed JSON: dicts, lists, strings) with the key masked.

        Walks iteratively, so a deeply nested body cannot exhaust the stack.
        """
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if not isinstance(value, Mapping | list):
            return value
        root: list[Any] = [value]
        # (container to fill, key or None to append, source value)
        stack: list[tuple[Any, Any, Any]] = [(root, 0, value)]
        while stack:
            target, key, source = stack.pop()
            if isinstance(source, str):
                target[key] = self.text(source)
            elif isinstance(source, Mapping):
                copy: dict[Any, Any] = {}
                target[key] = copy
                for name, item in source.items():
                    clean = self.text(name) if isinstance(name, str) else name
                    copy[clean] = item
                    stack.append((copy, clean, item))
            elif isinstance(source, list):
                items: list[Any] = list(source)
                target[key] = items
                stack.extend((items, index, item) for index, item in enumerate(source))
            else:
                target[key] = source
        return root[0]
