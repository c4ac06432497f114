"""The /embeddings wire mapping, exactly: texts checked and batched, bodies, vectors read.

``_wire.embeddings`` is what ``NebulaEmbeddings`` sends and reads; these tests pin each
body it builds, each vector form it reads and the exact error of every unusable answer.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest

from langchain_nebula import NebulaResponseError
from langchain_nebula._wire.embeddings import (
    batched,
    check_dimensions,
    check_texts,
    decode_base64_floats,
    embedding_request,
    map_embeddings,
)


def b64(*values: float) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def shape_error(answer: Any, count: int) -> NebulaResponseError:
    with pytest.raises(NebulaResponseError) as caught:
        map_embeddings(answer, count)
    assert type(caught.value) is NebulaResponseError
    return caught.value


# -- texts -------------------------------------------------------------------------------


def test_texts_are_returned_as_a_new_list() -> None:
    texts = ("a", "b")
    assert check_texts(texts) == ["a", "b"]
    given = ["a"]
    assert check_texts(given) is not given
    assert check_texts([]) == []


def test_one_string_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^texts must be a list") as caught:
        check_texts("abc")
    assert str(caught.value) == (
        "texts must be a list of strings, not one string; use embed_query for one text"
    )


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (["a", 1], "texts[1] is int, not str: only text can be embedded"),
        ([None], "texts[0] is NoneType, not str: only text can be embedded"),
        (["a", "b", b"c"], "texts[2] is bytes, not str: only text can be embedded"),
    ],
)
def test_the_first_text_that_is_not_a_string_is_named(texts: list[Any], message: str) -> None:
    with pytest.raises(ValueError, match=r"^texts\[") as caught:
        check_texts(texts)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("count", "size", "sizes"),
    [(0, 3, []), (1, 3, [1]), (3, 3, [3]), (4, 3, [3, 1]), (7, 2, [2, 2, 2, 1]), (2, 1, [1, 1])],
)
def test_batches_are_consecutive_and_at_most_the_size(
    count: int, size: int, sizes: list[int]
) -> None:
    texts = [str(i) for i in range(count)]
    batches = batched(texts, size)
    assert [len(b) for b in batches] == sizes
    assert [t for b in batches for t in b] == texts


# -- the request ---------------------------------------------------------------------------


def test_a_request_names_the_model_the_texts_and_the_format() -> None:
    assert embedding_request("m", ["a", "é"], "float", None, {}) == (
        b'{"model":"m","input":["a","\xc3\xa9"],"encoding_format":"float"}'
    )


def test_dimensions_are_sent_only_when_set() -> None:
    assert embedding_request("m", ["a"], "base64", 0, {}) == (
        b'{"model":"m","input":["a"],"encoding_format":"base64","dimensions":0}'
    )


def test_extra_fields_go_last_over_the_rest() -> None:
    assert embedding_request("m", ["a"], "base64", 8, {"dimensions": None, "user": "u"}) == (
        b'{"model":"m","input":["a"],"encoding_format":"base64","dimensions":null,"user":"u"}'
    )


# -- base64 floats ----------------------------------------------------------------------------


def test_base64_is_little_endian_float32s() -> None:
    assert decode_base64_floats(b64(1.0, -2.5, 0.25)) == [1.0, -2.5, 0.25]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "0 bytes is not a whole number of float32 values"),
        (base64.b64encode(b"abcde").decode(), "5 bytes is not a whole number of float32 values"),
        (base64.b64encode(b"ab").decode(), "2 bytes is not a whole number of float32 values"),
    ],
)
def test_base64_that_is_not_whole_float32s_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="bytes is not a whole number") as caught:
        decode_base64_floats(text)
    assert str(caught.value) == message


def test_text_that_is_not_base64_is_a_value_error() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - binascii's own words
        decode_base64_floats("a")


# -- vectors -----------------------------------------------------------------------------------


def test_vectors_are_placed_by_index() -> None:
    answer = {
        "data": [
            {"index": 1, "embedding": [1.0, 2.0]},
            {"index": 0, "embedding": b64(3.0, 4.0)},
        ]
    }
    assert map_embeddings(answer, 2) == [[3.0, 4.0], [1.0, 2.0]]


def test_items_without_an_index_are_placed_by_position() -> None:
    answer = {"data": [{"embedding": [1.0]}, {"embedding": [2.0]}]}
    assert map_embeddings(answer, 2) == [[1.0], [2.0]]


def test_a_list_of_floats_is_kept_as_it_is() -> None:
    vector = [0.5, 1.5]
    assert map_embeddings({"data": [{"embedding": vector}]}, 1)[0] is vector


def test_integers_among_the_numbers_become_floats() -> None:
    vectors = map_embeddings({"data": [{"embedding": [0, 1.5, 2]}]}, 1)
    assert vectors == [[0.0, 1.5, 2.0]]
    assert [type(v) for v in vectors[0]] == [float, float, float]


def test_no_items_for_no_texts() -> None:
    assert map_embeddings({"data": []}, 0) == []


@pytest.mark.parametrize("answer", [{}, {"data": None}, {"data": {"0": [1.0]}}])
def test_an_answer_without_a_data_list_is_refused_quoting_it(answer: dict[str, Any]) -> None:
    error = shape_error(answer, 1)
    assert error.message == "unusable embeddings answer: the answer has no data list"
    assert error.body == repr(answer)


def test_the_quoted_answer_is_cut_to_200_characters() -> None:
    answer = {"object": "x" * 300}
    assert shape_error(answer, 1).body == repr(answer)[:200]


@pytest.mark.parametrize(
    ("data", "count", "problem"),
    [
        ([{"embedding": [1.0]}], 2, "the answer has 1 embeddings for 2 inputs"),
        ([], 1, "the answer has 0 embeddings for 1 inputs"),
        ([[1.0]], 1, "data[0] is list, not an object"),
        ([{"embedding": [1.0]}, None], 2, "data[1] is NoneType, not an object"),
        (
            [{"index": 1, "embedding": [1.0]}],
            1,
            "data[0].index is 1, not an input position below 1",
        ),
        (
            [{"index": -1, "embedding": [1.0]}],
            1,
            "data[0].index is -1, not an input position below 1",
        ),
        (
            [{"index": True, "embedding": [1.0]}],
            1,
            "data[0].index is True, not an input position below 1",
        ),
        (
            [{"index": "0", "embedding": [1.0]}],
            1,
            "data[0].index is '0', not an input position below 1",
        ),
        (
            [{"index": None, "embedding": [1.0]}],
            1,
            "data[0].index is None, not an input position below 1",
        ),
        (
            [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [2.0]}],
            2,
            "data[1].index 0 appears twice",
        ),
        ([{"embedding": []}], 1, "data[0].embedding is not a non-empty list of numbers: []"),
        ([{}], 1, "data[0].embedding is not a non-empty list of numbers: None"),
        (
            [{"embedding": [1.0, True]}],
            1,
            "data[0].embedding is not a non-empty list of numbers: [1.0, True]",
        ),
        (
            [{"embedding": [1.0, "2"]}],
            1,
            "data[0].embedding is not a non-empty list of numbers: [1.0, '2']",
        ),
        (
            [{"embedding": {"0": 1.0}}],
            1,
            "data[0].embedding is not a non-empty list of numbers: {'0': 1.0}",
        ),
        (
            [{"embedding": "AAAAAAA="}],
            1,
            "data[0].embedding is not base64 float32 data "
            "(5 bytes is not a whole number of float32 values)",
        ),
    ],
)
def test_each_unusable_answer_is_named(data: list[Any], count: int, problem: str) -> None:
    error = shape_error({"data": data}, count)
    assert error.message == f"unusable embeddings answer: {problem}"
    assert error.body is None
    assert error.__cause__ is None


def test_a_long_embedding_is_quoted_up_to_200_characters() -> None:
    embedding = ["x"] * 100
    error = shape_error({"data": [{"embedding": embedding}]}, 1)
    assert error.message == (
        "unusable embeddings answer: data[0].embedding is not a non-empty list of numbers: "
        + repr(embedding)[:200]
    )


def test_a_bad_base64_embedding_hides_the_decoding_traceback() -> None:
    error = shape_error({"data": [{"embedding": "a"}]}, 1)
    assert error.message.startswith(
        "unusable embeddings answer: data[0].embedding is not base64 float32 data ("
    )
    assert error.__suppress_context__ is True


# -- dimensions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vectors", "dimensions"),
    [([], None), ([], 3), ([[1.0, 2.0], [3.0, 4.0]], None), ([[1.0, 2.0]], 2)],
)
def test_vectors_of_the_expected_length_pass(
    vectors: list[list[float]], dimensions: int | None
) -> None:
    check_dimensions(vectors, dimensions)


def test_a_vector_of_another_length_than_the_first_is_refused() -> None:
    with pytest.raises(NebulaResponseError) as caught:
        check_dimensions([[1.0, 2.0], [1.0, 2.0], [1.0]], None)
    assert caught.value.message == (
        "unusable embeddings answer: vector 2 has 1 dimensions, vector 0 has 2"
    )


def test_vectors_of_another_length_than_asked_for_are_refused_saying_why() -> None:
    with pytest.raises(NebulaResponseError) as caught:
        check_dimensions([[1.0, 2.0, 3.0]], 2)
    assert caught.value.message == (
        "unusable embeddings answer: asked for 2 dimensions, the server returned 3 "
        "(it may not support `dimensions`; leave it unset)"
    )
