"""JSON on the wire, exactly: what is decoded, what is refused, the bytes a body becomes."""

from __future__ import annotations

from typing import Any

import pytest

from langchain_nebula._wire import json_codec
from langchain_nebula._wire.json_codec import decode_json, encode_json, encode_json_text


@pytest.mark.parametrize(
    "data", [b'{"a": [1, 2.5, "\xc3\xa9", null, true]}', '{"a": [1, 2.5, "é", null, true]}']
)
def test_bytes_and_text_decode_alike(data: bytes | str) -> None:
    assert decode_json(data) == {"a": [1, 2.5, "é", None, True]}


@pytest.mark.parametrize(
    "data",
    [b"NaN", b"[Infinity]", b'{"x": -Infinity}', b"{bad", b"", b'"\xff"', b"[1,]", "{'a': 1}"],
)
def test_what_is_not_json_is_a_value_error(data: bytes | str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - orjson and json word it differently
        decode_json(data)


def test_the_encoder_is_compact_and_keeps_non_ascii_text() -> None:
    assert encode_json_text({"a": ["é", 1, None]}) == '{"a":["é",1,null]}'


def test_a_body_is_utf8_bytes() -> None:
    assert encode_json({"model": "é", "n": 1}) == '{"model":"é","n":1}'.encode()


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"temperature": float("nan")}, "temperature"),
        ({"a": {"b": [1.0, float("inf")]}}, "a.b[1]"),
        ({"stop": (float("-inf"),)}, "stop[0]"),
        ({"x": [{"y": float("nan")}]}, "x[0].y"),
    ],
)
def test_nan_and_infinity_are_refused_naming_where(payload: dict[str, Any], where: str) -> None:
    with pytest.raises(ValueError, match=r"^request field ") as caught:
        encode_json(payload)
    assert str(caught.value) == f"request field {where} is NaN or infinite, which JSON cannot carry"
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True


def test_text_encoding_refuses_nan_too() -> None:
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        encode_json_text(float("nan"))


def test_what_is_not_json_at_all_is_refused_as_json_says() -> None:
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        encode_json({"a": {1}})


def test_a_finite_float_is_sent() -> None:
    assert encode_json({"t": 0.5, "u": 1e300}) == b'{"t":0.5,"u":1e+300}'


# -- the standard library's decoder (where orjson is missing: PyPy), held to the same rules


@pytest.fixture
def without_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    # As on PyPy, where orjson is not installed: decode_json falls back to the stdlib.
    monkeypatch.setattr(json_codec, "_orjson_loads", None)


@pytest.mark.usefixtures("without_orjson")
@pytest.mark.parametrize("data", [b'{"a": [1.5, "\xc3\xa9"]}', '{"a": [1.5, "é"]}'])
def test_without_orjson_bytes_and_text_decode_alike(data: bytes | str) -> None:
    assert decode_json(data) == {"a": [1.5, "é"]}


@pytest.mark.usefixtures("without_orjson")
@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_without_orjson_nan_and_infinity_are_refused_by_name(constant: str) -> None:
    with pytest.raises(ValueError, match=f"^{constant} is not JSON$"):
        decode_json(f"[{constant}]".encode())


@pytest.mark.usefixtures("without_orjson")
def test_without_orjson_invalid_utf8_is_a_value_error() -> None:
    with pytest.raises(UnicodeDecodeError):
        decode_json(b'"\xff"')


def test_a_body_that_is_itself_nan_is_named_the_body() -> None:
    with pytest.raises(ValueError, match="the body") as caught:
        encode_json(float("nan"))  # type: ignore[arg-type]
    assert str(caught.value) == "request field the body is NaN or infinite, which JSON cannot carry"
