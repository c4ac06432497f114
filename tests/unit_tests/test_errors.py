"""What a failed call raises, exactly: class, message, status, code, request id, retryable.

The other error tests check that failures are typed at all; these pin the exact class
(``type(error) is``, never ``isinstance`` of a base, so a wrong subclass fails) and the
exact text a user reads, for every status, body shape, stream error event and
transport failure the mapping handles.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from langchain_nebula import (
    ChatNebula,
    NebulaAuthenticationError,
    NebulaBadRequestError,
    NebulaConnectionError,
    NebulaContextOverflowError,
    NebulaError,
    NebulaNotFoundError,
    NebulaPermissionDeniedError,
    NebulaRateLimitError,
    NebulaResponseError,
    NebulaServerError,
    NebulaStreamError,
    NebulaTimeoutError,
)
from langchain_nebula._http.failures import error_from_transport
from langchain_nebula._redaction import Redactor
from langchain_nebula.errors import (
    error_from_event,
    error_from_response,
)
from tests.scripted_server import ScriptedServer

KEY = "sk-live-0123456789abcdef"


def from_body(status: int, body: bytes, headers: dict[str, str] | None = None) -> NebulaError:
    return error_from_response(status, headers or {}, body)


def with_message(status: int, message: str) -> NebulaError:
    return error_from_response(status, {}, json.dumps({"error": {"message": message}}).encode())


# -- the class and retry flag of each status ------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (400, NebulaBadRequestError, False),
        (401, NebulaAuthenticationError, False),
        (402, NebulaBadRequestError, False),
        (403, NebulaPermissionDeniedError, False),
        (404, NebulaNotFoundError, False),
        (405, NebulaBadRequestError, False),
        (407, NebulaBadRequestError, False),
        (408, NebulaServerError, True),
        (409, NebulaServerError, True),
        (410, NebulaBadRequestError, False),
        (422, NebulaBadRequestError, False),
        (428, NebulaBadRequestError, False),
        (429, NebulaRateLimitError, True),
        (430, NebulaBadRequestError, False),
        (499, NebulaBadRequestError, False),
        (500, NebulaServerError, True),
        (502, NebulaServerError, True),
        (599, NebulaServerError, True),
    ],
)
def test_each_status_maps_to_exactly_one_class(
    status: int, cls: type[NebulaError], retryable: bool
) -> None:
    error = with_message(status, "it failed")
    assert type(error) is cls
    assert error.retryable is retryable
    assert error.status_code == status
    assert error.message == "it failed"


@pytest.mark.parametrize(
    ("status", "message", "cls"),
    [
        (400, "This model's maximum context length is 4096 tokens", NebulaContextOverflowError),
        (404, "context length exceeded", NebulaContextOverflowError),
        (500, "the request exceeds the available context size", NebulaContextOverflowError),
        (422, "context_length_exceeded", NebulaContextOverflowError),
        (401, "maximum context length", NebulaAuthenticationError),
        (403, "maximum context length", NebulaPermissionDeniedError),
        (429, "maximum context length", NebulaRateLimitError),
        (400, "Invalid model name passed in model=x", NebulaNotFoundError),
        (422, "model_not_found", NebulaNotFoundError),
        (500, "model not found", NebulaServerError),
        (401, "model not found", NebulaAuthenticationError),
        (500, "Audio input is not supported", NebulaBadRequestError),
        (503, "images are not supported by this model", NebulaBadRequestError),
        (502, "this model does not support tools", NebulaBadRequestError),
        (500, "qwen is not a multimodal model", NebulaBadRequestError),
        (400, "Audio input is not supported", NebulaBadRequestError),
        (404, "Audio input is not supported", NebulaNotFoundError),
        (429, "Audio input is not supported", NebulaRateLimitError),
        (500, "this is not supportedness", NebulaServerError),
    ],
)
def test_the_servers_words_refine_the_class_of_a_status(
    status: int, message: str, cls: type[NebulaError]
) -> None:
    error = with_message(status, message)
    assert type(error) is cls
    assert error.retryable is (cls in (NebulaServerError, NebulaRateLimitError))


def test_a_context_overflow_is_checked_before_a_model_name() -> None:
    error = with_message(400, "model not found: maximum context length exceeded")
    assert type(error) is NebulaContextOverflowError


# -- the message, code and body of each body shape -------------------------------------


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        # OpenAI and LiteLLM: a nested error object; a status-like code yields to type.
        (
            b'{"error": {"message": "bad body", "type": "invalid_request_error", "code": 400}}',
            "bad body",
            "invalid_request_error",
        ),
        (
            b'{"error": {"message": "no key", "type": "auth_error", "code": "401"}}',
            "no key",
            "auth_error",
        ),
        (
            b'{"error": {"message": "gone", "type": "invalid_request_error", '
            b'"code": "model_not_found"}}',
            "gone",
            "model_not_found",
        ),
        (b'{"error": {"message": "m", "code": 42}}', "m", "42"),
        (b'{"error": {"message": "m", "code": "4011"}}', "m", "4011"),
        (b'{"error": {"message": "m", "code": "40"}}', "m", "40"),
        (b'{"error": {"message": "m", "code": true}}', "m", "True"),
        (b'{"error": {"message": "m", "type": "None", "code": "401"}}', "m", None),
        (b'{"error": {"message": "m", "type": "", "code": null}}', "m", None),
        (b'{"error": {"message": "m", "type": null}}', "m", None),
        # vLLM's flat ErrorResponse.
        (
            b'{"object": "error", "message": "The model `x` does not exist.", '
            b'"type": "NotFoundError", "param": null, "code": 404}',
            "The model `x` does not exist.",
            "NotFoundError",
        ),
        # Simpler proxies and FastAPI.
        (b'{"error": "upstream unavailable"}', "upstream unavailable", None),
        (b'{"detail": "Not Found"}', "Not Found", None),
        (
            b'{"detail": [{"loc": ["body", "model"], "msg": "field required"}]}',
            '[{"loc": ["body", "model"], "msg": "field required"}]',
            None,
        ),
    ],
)
def test_each_error_body_shape_gives_the_servers_message_and_code(
    body: bytes, message: str, code: str | None
) -> None:
    error = from_body(400, body)
    assert error.message == message
    assert error.raw_message == message
    assert error.code == code


@pytest.mark.parametrize(
    "body",
    [
        b'{"error": {"message": "   ", "type": "t"}}',
        b'{"error": {"message": 42}}',
        b'{"error": "   "}',
        b'{"detail": ""}',
        b'{"status": "failed"}',
        b"[1, 2]",
    ],
)
def test_a_json_body_without_a_message_is_quoted_whole(body: bytes) -> None:
    error = from_body(500, body)
    assert error.message == body.decode()
    assert error.raw_message is None


def test_a_wordless_json_body_is_quoted_up_to_300_characters() -> None:
    body = b'{"status": "' + b"x" * 400 + b'"}'
    assert from_body(500, body).message == body.decode()[:300]


def test_the_error_keeps_the_parsed_body() -> None:
    error = from_body(400, b'{"error": {"message": "m", "param": "messages"}}')
    assert error.body == {"error": {"message": "m", "param": "messages"}}


@pytest.mark.parametrize("body", [b"", b"  \n "])
def test_an_empty_error_body_says_so(body: bytes) -> None:
    error = from_body(502, body)
    assert type(error) is NebulaServerError
    assert error.message == "empty response body"
    assert error.body == ""
    assert error.code is None


def test_a_non_json_error_body_is_quoted_as_text() -> None:
    error = from_body(502, b"upstream connect error")
    assert error.message == "non-JSON error body: upstream connect error"
    assert error.body == "upstream connect error"


def test_a_json_string_body_is_quoted_as_text() -> None:
    error = from_body(503, b'"upstream busy"')
    assert error.message == 'non-JSON error body: "upstream busy"'
    assert error.body == '"upstream busy"'


def test_a_body_that_only_looks_like_json_is_quoted_as_text() -> None:
    error = from_body(500, b"{oops: 1}")
    assert error.message == "non-JSON error body: {oops: 1}"
    assert error.body == "{oops: 1}"


def test_the_body_kept_from_text_is_cut_to_300_characters() -> None:
    error = from_body(502, b"y" * 1000)
    assert error.body == "y" * 300
    assert error.message == "non-JSON error body: " + "y" * 300


def test_an_html_error_page_is_summarised_by_its_title() -> None:
    page = (
        b"<html><head><TITLE>502 Bad  Gateway</TITLE></head>"
        b"<body><h1>Something else</h1></body></html>"
    )
    assert from_body(502, page).message == "non-JSON error body: 502 Bad Gateway"


def test_a_title_at_the_very_start_is_the_summary() -> None:
    page = b"<title>Service Unavailable</title><p>try later</p>"
    assert from_body(503, page).message == "non-JSON error body: Service Unavailable"


def test_the_first_title_of_a_page_is_the_summary() -> None:
    page = b"<title>Bad Gateway</title><svg><title>logo</title></svg>"
    assert from_body(502, page).message == "non-JSON error body: Bad Gateway"


def test_text_before_the_title_is_not_part_of_the_summary() -> None:
    page = b"<html>Proxy says:<head><title>Bad Gateway</title>"
    assert from_body(502, page).message == "non-JSON error body: Bad Gateway"


def test_a_stray_closing_title_before_the_title_is_ignored() -> None:
    page = b"Error</title><title>Bad Gateway</title>"
    assert from_body(502, page).message == "non-JSON error body: Bad Gateway"


def test_an_html_page_without_a_title_is_its_text_without_tags() -> None:
    page = b"<html><body><h1>Oops</h1><p>the proxy\nis down</p></body></html>"
    assert from_body(502, page).message == "non-JSON error body: Oops the proxy is down"


def test_an_unclosed_title_leaves_the_whole_page_as_the_summary() -> None:
    page = b"<title>Bad Gateway <p>nginx</p>"
    assert from_body(502, page).message == "non-JSON error body: Bad Gateway nginx"


def test_a_title_past_the_first_16000_characters_is_not_looked_for() -> None:
    page = b"z" * 16000 + b"<title>Late</title>"
    assert from_body(502, page).message == "non-JSON error body: " + "z" * 300


def test_a_title_within_the_first_16000_characters_is_found() -> None:
    page = b"z" * 15970 + b"<title>Late</title>"
    assert from_body(502, page).message == "non-JSON error body: Late"


def test_the_html_summary_is_cut_to_300_characters() -> None:
    page = b"<p>" + b"w" * 400 + b"</p>"
    assert from_body(502, page).message == "non-JSON error body: " + "w" * 300


# -- request ids ------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["x-request-id", "request-id", "x-litellm-call-id"])
def test_each_request_id_header_is_read(header: str) -> None:
    error = from_body(500, b'{"error": "x"}', {header: "req-7"})
    assert error.request_id == "req-7"


def test_x_request_id_wins_over_the_other_request_id_headers() -> None:
    headers = {"x-litellm-call-id": "call-3", "request-id": "req-2", "x-request-id": "xreq-1"}
    assert from_body(500, b'{"error": "x"}', headers).request_id == "xreq-1"


def test_request_id_wins_over_litellms_call_id() -> None:
    headers = {"x-litellm-call-id": "call-3", "request-id": "req-2"}
    assert from_body(500, b'{"error": "x"}', headers).request_id == "req-2"


@pytest.mark.parametrize("headers", [{}, {"x-request-id": ""}])
def test_no_request_id_is_none(headers: dict[str, str]) -> None:
    assert from_body(500, b'{"error": "x"}', headers).request_id is None


# -- what the user reads: str(error) ----------------------------------------------------


def test_str_of_an_http_error_names_the_status_and_the_request_id() -> None:
    error = from_body(404, b'{"error": {"message": "no such model"}}', {"x-request-id": "r-1"})
    assert str(error) == "Nebula API error 404: no such model (request id: r-1)"


def test_str_of_an_http_error_without_request_id_has_no_parenthesis() -> None:
    error = from_body(404, b'{"error": {"message": "no such model"}}')
    assert str(error) == "Nebula API error 404: no such model"


def test_str_of_an_error_without_a_status_is_the_message() -> None:
    assert str(NebulaConnectionError("could not reach")) == "could not reach"


def test_str_of_an_error_with_only_a_request_id_appends_it() -> None:
    error = NebulaStreamError("cut short", request_id="r-2")
    assert str(error) == "cut short (request id: r-2)"


def test_a_status_of_zero_is_still_shown() -> None:
    assert str(NebulaServerError("odd", status_code=0)) == "Nebula API error 0: odd"


# -- the API key never survives in what an error keeps ---------------------------------


def test_the_key_is_masked_in_message_raw_message_body_code_and_request_id() -> None:
    body = json.dumps({"error": {"message": f"Invalid key {KEY} given", "type": f"key_{KEY}"}})
    error = error_from_response(
        401, {"x-request-id": f"id-{KEY}"}, body.encode(), redactor=Redactor(KEY)
    )
    assert type(error) is NebulaAuthenticationError
    assert error.message == "Invalid key *** given"
    assert error.raw_message == "Invalid key *** given"
    assert error.code == "key_***"
    assert error.request_id == "id-***"
    assert error.body == {"error": {"message": "Invalid key *** given", "type": "key_***"}}


def test_a_key_spelled_in_unicode_escapes_is_masked_once_decoded() -> None:
    escaped = "".join(f"\\u{ord(c):04x}" for c in KEY)
    body = ('{"error": {"message": "bad key ' + escaped + '"}}').encode()
    error = error_from_response(401, {}, body, redactor=Redactor(KEY))
    assert error.message == "bad key ***"
    assert error.body == {"error": {"message": "bad key ***"}}


def test_the_key_is_masked_in_a_non_json_body() -> None:
    error = error_from_response(502, {}, f"bad {KEY}".encode(), redactor=Redactor(KEY))
    assert error.message == "non-JSON error body: bad ***"
    assert error.body == "bad ***"


def test_invalid_utf8_in_a_body_is_replaced_not_raised() -> None:
    error = from_body(502, b"bad \xff byte")
    assert error.message == "non-JSON error body: bad \ufffd byte"


# -- a proxy's wrapping is removed, the server's words kept ----------------------------


def test_a_proxy_message_is_cleaned_and_kept_raw() -> None:
    raw = "litellm.NotFoundError: Hosted_vllmException - no model\nmodel=qwen"
    error = from_body(404, json.dumps({"error": {"message": raw}}).encode())
    assert error.message == "no model"
    assert error.raw_message == raw


# -- stream error events -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "cls", "status", "code", "retryable"),
    [
        ({"message": "bad", "code": 400}, NebulaBadRequestError, 400, None, False),
        (
            {"message": "bad", "code": "401", "type": "auth"},
            NebulaAuthenticationError,
            401,
            "auth",
            False,
        ),
        ({"message": "bad", "code": 404}, NebulaNotFoundError, 404, None, False),
        ({"message": "bad", "code": "429"}, NebulaRateLimitError, 429, None, True),
        ({"message": "bad", "code": 500}, NebulaStreamError, 500, None, True),
        ({"message": "bad", "code": 599}, NebulaStreamError, 599, None, True),
        ({"message": "bad", "code": 100}, NebulaBadRequestError, 100, None, False),
        ({"message": "bad", "code": 600}, NebulaStreamError, None, "600", True),
        ({"message": "bad", "code": 99}, NebulaStreamError, None, "99", True),
        ({"message": "bad", "code": "overloaded"}, NebulaStreamError, None, "overloaded", True),
        ({"message": "bad", "type": "server_error"}, NebulaStreamError, None, "server_error", True),
        ({"message": "bad"}, NebulaStreamError, None, None, True),
    ],
)
def test_a_stream_error_event_maps_to_its_class_status_and_code(
    error: dict[str, Any],
    cls: type[NebulaError],
    status: int | None,
    code: str | None,
    retryable: bool,
) -> None:
    mapped = error_from_event({"error": error})
    assert type(mapped) is cls
    assert mapped.status_code == status
    assert mapped.code == code
    assert mapped.retryable is retryable
    assert mapped.message == "error event in stream: bad"
    assert mapped.raw_message == "bad"
    assert mapped.body == {"error": error}


@pytest.mark.parametrize(
    ("message", "cls"),
    [
        ("maximum context length is 2048", NebulaContextOverflowError),
        ("tools are not supported", NebulaBadRequestError),
        ("model not found", NebulaStreamError),
    ],
)
def test_a_stream_error_events_words_refine_its_class(message: str, cls: type[NebulaError]) -> None:
    mapped = error_from_event({"error": {"message": message}})
    assert type(mapped) is cls
    assert mapped.retryable is (cls is NebulaStreamError)


def test_a_stream_error_event_with_a_4xx_code_and_model_words_is_not_found() -> None:
    mapped = error_from_event({"error": {"message": "model not found", "code": 400}})
    assert type(mapped) is NebulaNotFoundError


def test_a_stream_error_events_empty_type_is_no_code() -> None:
    assert error_from_event({"error": {"message": "m", "type": ""}}).code is None


def test_a_stream_error_event_may_be_a_bare_string() -> None:
    mapped = error_from_event({"error": "litellm.APIError: upstream died"})
    assert type(mapped) is NebulaStreamError
    assert mapped.message == "error event in stream: upstream died"
    assert mapped.raw_message == "litellm.APIError: upstream died"
    assert (mapped.status_code, mapped.code) == (None, None)


def test_a_stream_error_event_of_another_json_type_is_quoted() -> None:
    mapped = error_from_event({"error": [1, "two"]})
    assert mapped.message == 'error event in stream: [1, "two"]'


def test_a_stream_error_event_without_a_message_says_so() -> None:
    mapped = error_from_event({"error": {"code": "boom"}})
    assert mapped.message == (
        "error event in stream: the stream reported an error without a message"
    )
    assert mapped.raw_message == "the stream reported an error without a message"
    assert mapped.code == "boom"


def test_a_stream_error_event_is_masked_and_kept_whole() -> None:
    event = {"id": "c1", "error": {"message": f"key {KEY} is bad", "code": "401"}}
    mapped = error_from_event(event, redactor=Redactor(KEY))
    assert mapped.message == "error event in stream: key *** is bad"
    assert mapped.body == {"id": "c1", "error": {"message": "key *** is bad", "code": "401"}}
    assert event["error"]["message"] == f"key {KEY} is bad"  # the caller's copy untouched


# -- transport failures ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "cls", "message", "retryable"),
    [
        (
            httpx.ReadTimeout("timed out"),
            NebulaTimeoutError,
            "request timed out (ReadTimeout: timed out)",
            True,
        ),
        (
            httpx.ConnectTimeout(""),
            NebulaTimeoutError,
            "request timed out (ConnectTimeout: ConnectTimeout)",
            True,
        ),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            NebulaConnectionError,
            "server closed the connection: Server disconnected without sending a response.",
            True,
        ),
        (
            httpx.LocalProtocolError("Illegal header value"),
            NebulaBadRequestError,
            "the request could not be sent (LocalProtocolError: Illegal header value)",
            False,
        ),
        (
            httpx.UnsupportedProtocol("no scheme"),
            NebulaBadRequestError,
            "the request could not be sent (UnsupportedProtocol: no scheme)",
            False,
        ),
        (
            httpx.ConnectError("[Errno 111] Connection refused"),
            NebulaConnectionError,
            "could not reach the server (ConnectError: [Errno 111] Connection refused)",
            True,
        ),
        (
            httpx.ReadError(""),
            NebulaConnectionError,
            "could not reach the server (ReadError: ReadError)",
            True,
        ),
    ],
)
def test_each_transport_failure_maps_to_its_class_and_message(
    exc: httpx.HTTPError, cls: type[NebulaError], message: str, retryable: bool
) -> None:
    error = error_from_transport(exc)
    assert type(error) is cls
    assert error.message == message
    assert error.retryable is retryable
    assert (error.status_code, error.request_id, error.code) == (None, None, None)


def test_an_invalid_url_is_not_retried() -> None:
    error = error_from_transport(httpx.InvalidURL("bad host"))  # type: ignore[arg-type]
    assert type(error) is NebulaBadRequestError
    assert error.message == "the request could not be sent (InvalidURL: bad host)"


def test_the_key_is_masked_in_a_transport_failure() -> None:
    error = error_from_transport(httpx.ConnectError(f"to {KEY}"), redactor=Redactor(KEY))
    assert error.message == "could not reach the server (ConnectError: to ***)"


# -- the error objects themselves -----------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "retryable"),
    [
        (NebulaError, False),
        (NebulaAuthenticationError, False),
        (NebulaPermissionDeniedError, False),
        (NebulaNotFoundError, False),
        (NebulaBadRequestError, False),
        (NebulaContextOverflowError, False),
        (NebulaRateLimitError, True),
        (NebulaServerError, True),
        (NebulaResponseError, False),
        (NebulaStreamError, False),
        (NebulaTimeoutError, True),
        (NebulaConnectionError, True),
    ],
)
def test_each_class_has_its_retry_default_and_an_explicit_flag_wins(
    cls: type[NebulaError], retryable: bool
) -> None:
    assert cls("m").retryable is retryable
    assert cls("m", retryable=not retryable).retryable is (not retryable)


def test_a_new_error_holds_exactly_what_it_was_given() -> None:
    error = NebulaRateLimitError(
        "slow down",
        status_code=429,
        request_id="r-3",
        code="rate_limit",
        body={"error": "slow down"},
        raw_message="Slow down!",
    )
    assert error.args == ("slow down",)
    assert error.__dict__ == {
        "message": "slow down",
        "host": None,
        "raw_message": "Slow down!",
        "status_code": 429,
        "request_id": "r-3",
        "code": "rate_limit",
        "body": {"error": "slow down"},
        "retry_after": None,
        "retryable": True,
        "unsent": False,
    }


def test_a_bare_error_has_no_details() -> None:
    error = NebulaError("m")
    assert (error.status_code, error.request_id, error.code, error.body) == (None,) * 4
    assert (error.raw_message, error.retry_after, error.unsent) == (None, None, False)


@pytest.mark.parametrize(
    "cls",
    [
        NebulaAuthenticationError,
        NebulaContextOverflowError,
        NebulaRateLimitError,
        NebulaStreamError,
        NebulaTimeoutError,
    ],
)
def test_an_error_survives_pickling_whole(cls: type[NebulaError]) -> None:
    error = cls("m", status_code=400, request_id="r", code="c", body={"b": 1}, raw_message="M")
    error.retry_after = 2.5
    error.unsent = True
    error.retryable = not error.retryable
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert copy.__dict__ == error.__dict__
    assert copy.args == ("m",)
    assert str(copy) == "Nebula API error 400: m (request id: r)"


# -- through ChatNebula: what a caller catches ------------------------------------------------


def test_a_failed_invoke_raises_the_exact_error_the_server_described(
    server: ScriptedServer, make_model: Callable[..., ChatNebula]
) -> None:
    server.reply_json(
        {"error": {"message": "Forbidden model", "type": "permission_denied", "code": "403"}},
        status=403,
        headers={"x-request-id": "req-403"},
    )
    with pytest.raises(NebulaPermissionDeniedError) as caught:
        make_model().invoke("Hi")
    error = caught.value
    assert type(error) is NebulaPermissionDeniedError
    assert (error.status_code, error.code, error.request_id) == (
        403,
        "permission_denied",
        "req-403",
    )
    assert error.message == "Forbidden model"
    assert str(error) == "API error 403 from 127.0.0.1: Forbidden model (request id: req-403)"
    assert error.retryable is False
