"""A server's words read out of any error body, exactly: messages, codes, Retry-After.

``_server_words`` reads what a failing server said; ``errors`` builds typed errors from
it (pinned in test_errors.py, through ``error_from_response``). These tests pin the
readers themselves: the proxy wrapping removed, each status code form, each body shape,
and each form of the ``Retry-After`` wait.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

import pytest

from langchain_nebula import _server_words
from langchain_nebula._server_words import (
    MAX_MESSAGE,
    MAX_SNIPPET,
    clean_message,
    describe,
    error_object,
    html_snippet,
    parse_json_text,
    retry_after_seconds,
    status_from_code,
)

NOW = 1_700_000_000.0


class Clock:
    """Stands in for the ``time`` module in ``_server_words``: it is always ``NOW``."""

    def time(self) -> float:
        return NOW


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_server_words, "time", Clock())


def test_the_limits() -> None:
    assert (MAX_MESSAGE, MAX_SNIPPET) == (2000, 300)


# -- Retry-After: seconds, milliseconds or an HTTP date --------------------------------


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "0"}, 0.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after-ms": "-5", "retry-after": "9"}, 9.0),
        ({"retry-after-ms": "inf", "retry-after": "9"}, 9.0),
        ({}, None),
        ({"retry-after-ms": "nan"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-1"}, None),
        ({"retry-after": ""}, None),
        *(
            ({header: value}, None)
            for header in ("retry-after", "retry-after-ms")
            for value in ("nan", "NaN", "inf", "-inf", "-5", "soon", "1e999", "")
        ),
    ],
)
def test_retry_after_headers_are_read_as_seconds(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert retry_after_seconds(headers) == seconds


@pytest.mark.usefixtures("clock")
def test_an_http_date_is_the_seconds_until_then() -> None:
    then = datetime.fromtimestamp(NOW + 90, tz=timezone.utc)
    assert retry_after_seconds({"retry-after": format_datetime(then, usegmt=True)}) == 90.0


@pytest.mark.usefixtures("clock")
def test_an_http_date_in_another_zone_is_converted() -> None:
    assert retry_after_seconds({"retry-after": "Tue, 14 Nov 2023 23:13:40 +0100"}) == 20.0


@pytest.fixture
def local_zone_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("clock", "local_zone_new_york")
def test_an_http_date_without_a_zone_is_utc_whatever_the_local_zone() -> None:
    assert retry_after_seconds({"retry-after": "Tue, 14 Nov 2023 22:13:50"}) == 30.0


@pytest.mark.usefixtures("clock")
def test_an_http_date_in_the_past_means_no_wait() -> None:
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


# -- a proxy's wrapping is removed, the server's words kept ----------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (
            "litellm.BadRequestError: OpenAIException - bad format\n\n"
            "LiteLLM: model group 'm' failed with the error above.",
            "bad format",
        ),
        (
            "litellm.ContextWindowExceededError: litellm.BadRequestError: "
            "Hosted_vllmException - too long",
            "too long",
        ),
        ("litellm._pre_call_checks: no deployment", "no deployment"),
        ("/v1/chat/completions: boom", "boom"),
        ("Error code: 400 - {'error': {'message': 'inner words'}}", "inner words"),
        ('Error code: 400 - {"error": {"message": "json words"}}', "json words"),
        ('{"message": "flat words"}', "flat words"),
        ('{"error": "plain words"}', "plain words"),
        ('{"error": {"code": 1}}', '{"error": {"code": 1}}'),
        ('{"error": {"message": "  "}}', '{"error": {"message": " "}}'),
        ("{'a': [1, 2]", "{'a': [1, 2]"),
        ("{not json at all}", "{not json at all}"),
        ("{1, 2}", "{1, 2}"),
        ("  spaced\n\tout   words ", "spaced out words"),
        ("litellm.BadRequestError: ", "litellm.BadRequestError:"),
        ("litellm.APIError: OpenAIException - ", "litellm.APIError: OpenAIException -"),
        ("bad\n\nSet 'context_window_fallback' to true", "bad"),
        ("bad\nmodel=qwen", "bad"),
        ("bad LiteLLM Retried: 2 times", "bad"),
        ("bad, LiteLLM Max Retries: 3", "bad"),
        ("bad Received Model Group=qwen", "bad"),
        ("bad Available Model Group Fallbacks=None", "bad"),
        ("bad Call `/v1/models` to view available models", "bad"),
        ("a\nmodel=x", "a"),
        ("a\nmodel=b\nmodel=c", "a"),
        ("  litellm.BadRequestError:   words ", "words"),
        ("{'message': 'x'}  # from the proxy", "{'message': 'x'} # from the proxy"),
        # A tail at the very start is kept: there would be nothing left.
        ("\nmodel=x\n\nLiteLLM: y", "model=x"),
    ],
)
def test_clean_message_keeps_the_servers_own_words(raw: str, clean: str) -> None:
    assert clean_message(raw) == clean


def test_clean_message_removes_at_most_eight_nested_prefixes() -> None:
    assert clean_message("AError: " * 8 + "words") == "words"
    assert clean_message("AError: " * 9 + "words") == "AError: words"


def test_clean_message_reads_only_the_first_2000_characters() -> None:
    assert clean_message("a" * 2500) == "a" * 2000


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("{'error': {'message': 'repr words'}}", "repr words"),
        ("{'error': 'bare words'}", "bare words"),
        ("{'error': {'message': 5}}", "{'error': {'message': 5}}"),
        ("{'message': None}", "{'message': None}"),
        ("{" + "[" * 2000 + "}", "{" + "[" * 1999),
    ],
)
def test_an_embedded_error_may_be_json_or_a_python_repr(raw: str, clean: str) -> None:
    assert clean_message(raw) == clean


def test_a_message_of_only_whitespace_is_itself_collapsed() -> None:
    assert clean_message(" \n ") == ""


# -- a status code in any form ---------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (404, 404),
        ("429", 429),
        (100, 100),
        (599, 599),
        (99, None),
        (600, None),
        ("600", None),
        ("099", None),
        ("4290", None),
        ("42", None),
        (" 429", None),
        ("\u0664\u0660\u0664", None),
        (True, None),
        (False, None),
        (404.0, None),
        (None, None),
        ("not found", None),
    ],
)
def test_a_status_is_an_int_or_three_ascii_digits_from_100_to_599(
    code: Any, status: int | None
) -> None:
    assert status_from_code(code) == status


# -- an error object's message and code label ------------------------------------------


@pytest.mark.parametrize(
    ("error", "read"),
    [
        ({"message": "m", "type": "t", "code": 400}, ("m", "t", 400)),
        ({"message": "m", "type": "t", "code": "quota"}, ("m", "quota", "quota")),
        ({"message": "m", "code": 7}, ("m", "7", 7)),
        ({"message": "m", "code": False}, ("m", "False", False)),
        ({"message": "m", "type": "None"}, ("m", None, None)),
        ({"message": "m", "type": ""}, ("m", None, None)),
        ({"message": "m", "type": 5}, ("m", "5", None)),
        ({"message": " ", "type": "t"}, (None, "t", None)),
        ({"message": ["m"]}, (None, None, None)),
        ({}, (None, None, None)),
    ],
)
def test_an_error_object_gives_message_label_and_raw_code(
    error: dict[str, Any], read: tuple[Any, Any, Any]
) -> None:
    assert error_object(error) == read


@pytest.mark.parametrize(
    ("parsed", "read"),
    [
        ({"error": {"message": "m", "code": "401"}}, ("m", None, "401")),
        ({"error": "words"}, ("words", None, None)),
        ({"error": "  ", "detail": "d"}, ("d", None, None)),
        ({"error": 5, "message": "flat"}, ("flat", None, None)),
        ({"message": None, "type": "t"}, (None, "t", None)),
        ({"detail": {"a": 1}}, ('{"a": 1}', None, None)),
        ({"detail": ""}, (None, None, None)),
        ({"detail": []}, (None, None, None)),
        ({}, (None, None, None)),
        ([{"error": "x"}], (None, None, None)),
        ("error", (None, None, None)),
        (None, (None, None, None)),
    ],
)
def test_each_body_shape_is_described(parsed: Any, read: tuple[Any, Any, Any]) -> None:
    assert describe(parsed) == read


# -- JSON text and HTML pages ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [('{"a": 1}', {"a": 1}), ("[1]", [1]), ("nope", None), ("", None), ("[" * 100_000, None)],
)
def test_json_text_is_parsed_or_none(text: str, parsed: Any) -> None:
    assert parse_json_text(text) == parsed


@pytest.mark.parametrize(
    ("page", "snippet"),
    [
        ("<html><TITLE>502 Bad Gateway</TITLE><body>x</body></html>", "502 Bad Gateway"),
        ("<title lang=en>T</title>", "T"),
        ("<p>no <b>title</b></p>", "no title"),
        ("<title>unclosed", "unclosed"),
        ("<title", "<title"),
        ("</title>before<title>after</title>", "after"),
        ("plain text", "plain text"),
        ("<title> a\n b </title>", "a b"),
    ],
)
def test_an_html_page_is_summarised_by_its_title_or_its_text(page: str, snippet: str) -> None:
    assert html_snippet(page) == snippet


def test_an_html_summary_is_at_most_300_characters() -> None:
    assert html_snippet("<title>" + "x" * 400 + "</title>") == "x" * 300
