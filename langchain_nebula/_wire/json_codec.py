"""JSON on the wire: one encoder built once, one strict decoder. Pure.

Every module that reads or writes JSON uses these: request bodies, response bodies,
stream events, tool-call arguments. ``orjson`` decodes when it is installed (it comes
with langchain-core's langsmith on CPython and parses about 3x faster); the standard
library otherwise, held to the same rules.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

_orjson_loads: Callable[[bytes | str], Any] | None
try:
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - PyPy
    _orjson_loads = None

__all__ = ["decode_json", "encode_json", "encode_json_text"]

# json.dumps with options builds a new encoder per call; build ours once. Non-ASCII
# text goes as UTF-8. NaN and Infinity are not JSON: refuse them rather than send what
# a server cannot parse.
encode_json_text = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False
).encode


def decode_json(data: bytes | str) -> Any:
    """Decodes JSON; raises ``ValueError`` (or ``RecursionError``) if it is not JSON.

    Strict: ``NaN`` and ``Infinity`` are not JSON and are refused, as invalid UTF-8 is.
    """
    if _orjson_loads is not None:
        return _orjson_loads(data)
    # Decoding first skips json.loads' per-call encoding sniffing; bad UTF-8 raises
    # UnicodeDecodeError, a ValueError, like bad JSON.
    return _decode_strict(data.decode() if isinstance(data, bytes) else data)


def _refuse_constant(name: str) -> Any:
    msg = f"{name} is not JSON"
    raise ValueError(msg)


_decode_strict = json.JSONDecoder(parse_constant=_refuse_constant).decode


def _non_finite_path(value: Any) -> str | None:
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return where or "the body"
        if isinstance(item, Mapping):
            stack.extend((f"{where}.{key}" if where else str(key), v) for key, v in item.items())
        elif isinstance(item, list | tuple):
            stack.extend((f"{where}[{index}]", v) for index, v in enumerate(item))
    return None


def encode_json(payload: Mapping[str, Any]) -> bytes:
    """Encodes a request body.

    Raises:
        ValueError: If a value is NaN or infinite (naming where), or not JSON at all.
    """
    try:
        return encode_json_text(payload).encode()
    except ValueError:
        where = _non_finite_path(payload)
        if where is None:
            raise
        msg = f"request field {where} is NaN or infinite, which JSON cannot carry"
        raise ValueError(msg) from None
