"""The ``/embeddings`` wire mapping: texts → request bodies, answers → vectors. Pure.

A request carries one batch of texts; the answer lists one ``{"index", "embedding"}``
item per text, possibly out of order, each embedding either a JSON list of numbers
or (when ``encoding_format`` is ``"base64"``) the base64 of little-endian float32s.
Either form is accepted whatever was asked for: servers that ignore the format send
floats. Anything else in a 2xx answer is a ``NebulaResponseError``, never a
``KeyError`` or ``TypeError`` from deep inside.
"""

from __future__ import annotations

import binascii
import math
import sys
from array import array
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

from langchain_nebula._wire.json_codec import encode_json
from langchain_nebula.errors import NebulaResponseError

__all__ = [
    "EncodingFormat",
    "batched",
    "check_dimensions",
    "check_texts",
    "decode_base64_floats",
    "embedding_request",
    "map_embeddings",
]

EncodingFormat = Literal["base64", "float"]

_BIG_ENDIAN = sys.byteorder == "big"
_FLOAT32_BYTES = 4
_SNIPPET = 200
_FLOAT = {float}
_NUMBER = {float, int}  # not bool: type(True) is bool


def check_texts(texts: Sequence[str]) -> list[str]:
    """The texts as a list, or a ``ValueError`` naming the first that is not a string.

    A bare string is refused too: embedding it as a list would embed its characters.
    So is an empty string: servers refuse it (OpenAI, vLLM) or answer a vector that
    means nothing, and either way the caller learns of it only from the server.
    """
    if isinstance(texts, str):
        msg = "texts must be a list of strings, not one string; use embed_query for one text"
        raise ValueError(msg)
    checked = list(texts)
    for position, text in enumerate(checked):
        if not isinstance(text, str):
            msg = f"texts[{position}] is {type(text).__name__}, not str: only text can be embedded"
            raise ValueError(msg)
        if not text:
            msg = f"texts[{position}] is an empty string: there is nothing to embed"
            raise ValueError(msg)
    return checked


def batched(texts: list[str], size: int) -> list[list[str]]:
    """``texts`` cut into consecutive batches of at most ``size``."""
    return [texts[start : start + size] for start in range(0, len(texts), size)]


def embedding_request(
    model: str,
    texts: list[str],
    encoding_format: EncodingFormat,
    dimensions: int | None,
    extra: Mapping[str, Any],
) -> bytes:
    """The JSON body asking for one batch's embeddings (``dimensions`` only when set)."""
    payload: dict[str, Any] = {"model": model, "input": texts, "encoding_format": encoding_format}
    if dimensions is not None:
        payload["dimensions"] = dimensions
    payload.update(extra)
    return encode_json(payload)


def decode_base64_floats(text: str) -> list[float]:
    """Decodes base64 little-endian float32s.

    Raises:
        ValueError: If ``text`` is not base64, not a whole number of float32s, or
            holds NaN or Infinity (refused as JSON numbers too).
    """
    raw = binascii.a2b_base64(text)  # binascii.Error and non-ASCII are ValueErrors
    if not raw or len(raw) % _FLOAT32_BYTES:
        msg = f"{len(raw)} bytes is not a whole number of float32 values"
        raise ValueError(msg)
    values = array("f")
    values.frombytes(raw)
    if _BIG_ENDIAN:
        values.byteswap()
    # One C-level pass: float32 values summed as doubles cannot overflow, so the sum
    # is finite exactly when every value is.
    if not math.isfinite(sum(values)):
        msg = "the vector holds NaN or Infinity"
        raise ValueError(msg)
    return values.tolist()


def _vector(embedding: Any, where: str) -> list[float]:
    if isinstance(embedding, str):
        try:
            return decode_base64_floats(embedding)
        except ValueError as exc:
            raise _shape_error(f"{where}.embedding is not base64 float32 data ({exc})") from None
    if isinstance(embedding, list) and embedding:
        # One C-level pass over the types; the usual all-float list is kept as it is
        # (copying a million floats costs as much again as checking them).
        kinds = set(map(type, embedding))
        if kinds == _FLOAT:
            return embedding
        if kinds <= _NUMBER:  # a server that writes 0.0 as 0
            return [float(value) for value in embedding]
    snippet = repr(embedding)[:_SNIPPET]
    raise _shape_error(f"{where}.embedding is not a non-empty list of numbers: {snippet}")


def map_embeddings(answer: Mapping[str, Any], count: int) -> list[list[float]]:
    """The vectors of an answer to a request for ``count`` texts, in input order.

    Items are placed by their ``index`` (by position when a server omits it).

    Raises:
        NebulaResponseError: If ``data`` is missing, holds another number of items,
            repeats or skips an index, or an embedding is neither numbers nor base64.
    """
    data = answer.get("data")
    if not isinstance(data, list):
        raise _shape_error("the answer has no data list", answer)
    if len(data) != count:
        raise _shape_error(f"the answer has {len(data)} embeddings for {count} inputs")
    vectors: list[list[float] | None] = [None] * count
    for position, item in enumerate(data):
        where = f"data[{position}]"
        if not isinstance(item, Mapping):
            raise _shape_error(f"{where} is {type(item).__name__}, not an object")
        index = item.get("index", position)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
            raise _shape_error(f"{where}.index is {index!r}, not an input position below {count}")
        if vectors[index] is not None:
            raise _shape_error(f"{where}.index {index} appears twice")
        vectors[index] = _vector(item.get("embedding"), where)
    return cast("list[list[float]]", vectors)  # count items, no index twice: all filled


def check_dimensions(vectors: list[list[float]], dimensions: int | None) -> None:
    """Raises ``NebulaResponseError`` unless every vector has the same, expected length."""
    if not vectors:
        return
    expected = dimensions if dimensions is not None else len(vectors[0])
    for position, vector in enumerate(vectors):
        if len(vector) != expected:
            if dimensions is not None:
                msg = (
                    f"asked for {dimensions} dimensions, the server returned {len(vector)} "
                    "(it may not support `dimensions`; leave it unset)"
                )
            else:
                msg = f"vector {position} has {len(vector)} dimensions, vector 0 has {expected}"
            raise _shape_error(msg)


def _shape_error(problem: str, answer: Any = None) -> NebulaResponseError:
    body = None if answer is None else repr(answer)[:_SNIPPET]
    return NebulaResponseError(f"unusable embeddings answer: {problem}", body=body)
