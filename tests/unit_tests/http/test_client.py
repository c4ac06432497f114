"""Pins of ``NebulaClient``: what each call sends, where the key goes, and forks.

Every call goes over a real socket to the scripted server on 127.0.0.1. Requests for
other hosts (Nebula's, a remote one) go to it too, through a client the test passes
with ``proxy=`` set to the server: it records the absolute URL each was meant for.
"""

from __future__ import annotations

import asyncio
import logging
import re
import string
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from langchain_nebula._http.client import (
    DOUBLE_AUTHORIZATION,
    checked_api_key,
    checked_base_url,
    checked_headers,
)
from langchain_nebula._provider import USER_AGENT
from langchain_nebula.errors import (
    NebulaAuthenticationError,
    NebulaError,
    NebulaResponseError,
    NebulaServerError,
    NebulaTimeoutError,
)
from tests.conftest import API_KEY
from tests.scripted_server import Reply, ScriptedServer
from tests.unit_tests.http.scripted_calls import AT_ONCE, nebula

HINT = (
    "NEBULA_API_KEY is set but only goes to Nebula's hosts or the host of NEBULA_BASE_URL; "
    "pass api_key=... to send a key to {host}"
)


@pytest.fixture
def proxied(server: ScriptedServer) -> Iterator[httpx.Client]:
    """A client sending every http:// request, whatever its host, to the server."""
    with httpx.Client(proxy=server.base_url.removesuffix("/v1"), trust_env=False) as client:
        yield client


def exactly(message: str) -> str:
    """A ``match`` pattern for exactly ``message``."""
    return f"^{re.escape(message)}$"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# -- the calls ------------------------------------------------------------------------


def test_get_json_sends_a_bodiless_get_with_the_standard_headers(server: ScriptedServer) -> None:
    server.reply_json({"data": [1, 2]}, headers={"X-Request-Id": "req-7"})
    answer, headers = nebula(server.base_url + "/").get_json("/models")
    assert answer == {"data": [1, 2]}
    assert headers["x-request-id"] == "req-7"
    [request] = server.requests
    assert (request.method, request.path, request.body) == ("GET", "/v1/models", b"")
    assert "content-length" not in request.headers
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept-encoding"] == "gzip, deflate"
    assert request.headers["user-agent"] == USER_AGENT


def test_aget_json_sends_the_same_get(server: ScriptedServer) -> None:
    server.reply_json({"data": []}, headers={"X-Request-Id": "req-8"})
    answer, headers = asyncio.run(nebula(server.base_url).aget_json("/models"))
    assert answer == {"data": []}
    assert headers["x-request-id"] == "req-8"
    [request] = server.requests
    assert (request.method, request.path, request.body) == ("GET", "/v1/models", b"")
    assert "content-length" not in request.headers
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["user-agent"] == USER_AGENT


def test_post_json_sends_the_body_to_the_path_under_base_url(server: ScriptedServer) -> None:
    server.reply_json({"ok": True})
    server.reply_json({"ok": False})
    client = nebula(server.base_url)
    assert client.post_json("/chat/completions", b'{"a": 1}')[0] == {"ok": True}
    assert asyncio.run(client.apost_json("/chat/completions", b'{"b": 2}'))[0] == {"ok": False}
    assert [(r.method, r.path, r.body) for r in server.requests] == [
        ("POST", "/v1/chat/completions", b'{"a": 1}'),
        ("POST", "/v1/chat/completions", b'{"b": 2}'),
    ]


def test_a_target_that_is_a_url_is_used_as_it_is(server: ScriptedServer) -> None:
    server.reply_json({"elsewhere": True})
    client = nebula("http://127.0.0.1:9/v1")  # nothing listens there
    root = server.base_url.removesuffix("/v1")
    assert client.url("/models") == "http://127.0.0.1:9/v1/models"
    assert client.url(f"{root}/api/models") == f"{root}/api/models"
    assert client.get_json(f"{root}/api/models")[0] == {"elsewhere": True}
    assert server.requests[0].path == "/api/models"


def test_repr_names_the_base_url_only() -> None:
    client = nebula(" https://models.example.com/v1/ ")
    assert repr(client) == "NebulaClient(https://models.example.com/v1)"
    assert client.base_url == "https://models.example.com/v1"


def test_default_headers_are_sent_and_may_replace_the_standard_ones(
    server: ScriptedServer,
) -> None:
    server.reply_json({})
    headers = {"User-Agent": "my-app/1.0", "X-Team": "search\tteam", "x-lower": "~ok~"}
    nebula(server.base_url, headers=headers).post_json("/x", b"{}")
    sent = server.requests[0].headers
    assert (sent["user-agent"], sent["x-team"], sent["x-lower"]) == (
        "my-app/1.0",
        "search\tteam",
        "~ok~",
    )
    assert sent["content-type"] == "application/json"


@pytest.mark.parametrize("spelling", [str.lower, str.upper, str.title])
def test_a_default_header_replaces_the_standard_one_however_it_is_spelt(
    server: ScriptedServer, spelling: Callable[[str], str]
) -> None:
    server.reply_json({})
    headers = {
        spelling("User-Agent"): "my-app/1.0",
        spelling("Content-Type"): "application/json; charset=utf-8",
        spelling("Accept-Encoding"): "identity",
    }
    nebula(server.base_url, headers=headers).post_json("/x", b"{}")
    sent = [(n.lower(), v) for n, v in server.requests[0].header_lines]
    assert [v for n, v in sent if n == "user-agent"] == ["my-app/1.0"]
    assert [v for n, v in sent if n == "content-type"] == ["application/json; charset=utf-8"]
    assert [v for n, v in sent if n == "accept-encoding"] == ["identity"]
    assert [v for n, v in sent if n == "authorization"] == [f"Bearer {API_KEY}"]


def test_retries_follow_max_retries(server: ScriptedServer) -> None:
    for _ in range(2):
        server.reply_json({"error": {"message": "busy"}}, status=503, headers=AT_ONCE)
    server.reply_json({"ok": 1})
    assert nebula(server.base_url, max_retries=2).post_json("/x", b"{}")[0] == {"ok": 1}
    assert len(server.requests) == 3


def test_a_cut_answer_to_an_accepted_request_is_resent_only_when_allowed(
    server: ScriptedServer,
) -> None:
    cut = Reply(200, {"Content-Type": "application/json"}, pieces=[b'{"ok":'], cut_after=1)
    server.replies.extend([cut, Reply(**vars(cut))])
    server.reply_json({"ok": 2})
    with pytest.raises(NebulaResponseError, match=r"\(not sent again: the server had accepted"):
        nebula(server.base_url, max_retries=1).post_json("/x", b"{}")
    assert len(server.requests) == 1
    answer = nebula(server.base_url, max_retries=1, retry_accepted_requests=True).post_json(
        "/x", b"{}"
    )
    assert answer[0] == {"ok": 2}
    assert len(server.requests) == 3


def test_no_retry_is_started_that_would_end_past_total_timeout(server: ScriptedServer) -> None:
    server.reply_json({"error": {"message": "busy"}}, status=503, headers={"Retry-After": "2"})
    client = nebula(server.base_url, max_retries=1, total_timeout=1.0)
    with pytest.raises(NebulaServerError) as caught:
        client.post_json("/x", b"{}")
    assert caught.value.message == "busy (no time left to retry within total_timeout)"
    assert len(server.requests) == 1


def test_timeout_applies_to_a_sync_client_you_passed(
    server: ScriptedServer, release: threading.Event
) -> None:
    server.replies.append(Reply(200, {"Content-Type": "application/json"}, b"{}", hold=release))
    with httpx.Client(timeout=30.0) as passed:
        client = nebula(server.base_url, timeout=0.05, http_client=passed)
        with pytest.raises(NebulaTimeoutError, match=r"^request timed out \(ReadTimeout: "):
            client.post_json("/x", b"{}")


def test_timeout_applies_to_an_async_client_you_passed(
    server: ScriptedServer, release: threading.Event
) -> None:
    server.replies.append(Reply(200, {"Content-Type": "application/json"}, b"{}", hold=release))

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=30.0) as passed:
            client = nebula(server.base_url, timeout=0.05, http_async_client=passed)
            with pytest.raises(NebulaTimeoutError, match=r"^request timed out \(ReadTimeout: "):
                await client.apost_json("/x", b"{}")

    asyncio.run(scenario())


def test_response_bytes_are_capped_at_max_response_bytes(server: ScriptedServer) -> None:
    server.reply_json({"text": "x" * 100})
    with pytest.raises(NebulaServerError, match=r"exceeded max_response_bytes=50 "):
        nebula(server.base_url, max_response_bytes=50).post_json("/x", b"{}")


# -- validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://[::1", "base_url is not a valid URL"),
        ("ftp://models.example.com/v1", "base_url must be an http:// or https:// URL with a host"),
        ("http:///v1", "base_url must be an http:// or https:// URL with a host"),
        (
            "https://alice:pw@models.example.com/v1",
            "base_url must not carry credentials (user:password@host); pass the key as "
            "api_key=..., or other credentials in default_headers",
        ),
    ],
)
def test_a_base_url_that_cannot_be_used_is_refused(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=exactly(message)):
        checked_base_url(value)
    with pytest.raises(ValueError, match=exactly(message)):
        nebula(value)


def test_a_usable_base_url_is_parsed_without_its_surrounding_spaces() -> None:
    assert str(checked_base_url("  https://models.example.com/v1\n")) == (
        "https://models.example.com/v1"
    )


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("ak_\x7fkey", "U+007F (U+007F) at position 3"),
        ("ak_ke\x1fy", "U+001F (U+001F) at position 5"),
        ("ak\u00a0key", "NO-BREAK SPACE (U+00A0) at position 2"),
        ("a\u2014key", "EM DASH (U+2014) at position 1"),
    ],
)
def test_a_key_character_http_cannot_carry_is_named_with_its_position(
    key: str, problem: str
) -> None:
    message = (
        f"api_key contains {problem}, which cannot be sent in an HTTP header; "
        "copy the key again without it"
    )
    with pytest.raises(ValueError, match=exactly(message)):
        checked_api_key(key)


def test_a_key_keeps_every_printable_ascii_character_and_tabs() -> None:
    inner = "".join(chr(c) for c in range(0x20, 0x7F)) + "\t~"
    assert checked_api_key(f"\u200b\ufeff k{inner}x\u2060\n") == f"k{inner}x"


def test_an_empty_key_sends_no_authorization(server: ScriptedServer) -> None:
    server.reply_json({})
    nebula(server.base_url, api_key=SecretStr(" \u200b ")).post_json("/x", b"{}")
    assert "authorization" not in server.requests[0].headers


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"": "x"}, "default_headers has a header name that HTTP does not allow: ''"),
        ({"X Team": "x"}, "default_headers has a header name that HTTP does not allow: 'X Team'"),
        ({"X-Tëam": "x"}, "default_headers has a header name that HTTP does not allow: 'X-Tëam'"),
        ({"X-Team": "caf\u00e9"}, "default_headers['X-Team'] cannot be sent in an HTTP header"),
        ({"X-Team": "a\nb"}, "default_headers['X-Team'] cannot be sent in an HTTP header"),
        ({"X-Team": 7}, "default_headers['X-Team'] cannot be sent in an HTTP header"),
    ],
)
def test_a_header_http_cannot_carry_is_refused(headers: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=exactly(message)):
        checked_headers(headers)
    with pytest.raises(ValueError, match=exactly(message)):
        nebula("http://127.0.0.1:9/v1", headers=headers)


def test_every_token_character_may_name_a_header() -> None:
    name = "!#$%&'*+-.^_`|~" + string.digits + string.ascii_letters  # RFC 9110's tchar
    headers = {name: "v", "x-lower": " ~\t", "X-UPPER": "w"}
    copy = checked_headers(headers)
    assert copy == headers
    assert copy is not headers


@pytest.mark.parametrize("name", ["Authorization", "AUTHORIZATION", "authorization"])
def test_a_second_authorization_is_refused_only_with_a_key(
    server: ScriptedServer, name: str
) -> None:
    with pytest.raises(ValueError, match=exactly(DOUBLE_AUTHORIZATION)):
        nebula(server.base_url, headers={name: "Basic abc"})
    server.reply_json({})
    nebula(server.base_url, api_key=None, headers={name: "Basic abc"}).post_json("/x", b"{}")
    assert server.requests[0].headers["authorization"] == "Basic abc"


# -- where the key goes ---------------------------------------------------------------


def test_no_key_for_nebula_fails_before_any_request(proxied: httpx.Client) -> None:
    client = nebula("http://inference.nebulablock.com/v1", api_key=None, http_client=proxied)
    with pytest.raises(NebulaAuthenticationError) as caught:
        client.post_json("/chat/completions", b"{}")
    assert caught.value.message == (
        "No Nebula API key: set the NEBULA_API_KEY environment variable or pass api_key=..."
    )
    assert caught.value.status_code is None


@pytest.mark.parametrize("host", ["inference.nebulablock.com", "api.nebulablock.com"])
def test_the_environment_key_goes_to_nebulas_hosts(
    server: ScriptedServer, proxied: httpx.Client, host: str
) -> None:
    server.reply_json({})
    client = nebula(f"http://{host}/v1", key_is_explicit=False, http_client=proxied)
    client.get_json("/models")
    assert server.requests[0].path == f"http://{host}/v1/models"
    assert server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize("variable", ["NEBULA_BASE_URL", "NEBULA_CATALOG_URL"])
def test_the_environment_key_goes_to_the_hosts_the_environment_names(
    server: ScriptedServer,
    proxied: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    monkeypatch.setenv(variable, " http://models.example.com:8000/v1\n")
    other = "NEBULA_CATALOG_URL" if variable == "NEBULA_BASE_URL" else "NEBULA_BASE_URL"
    monkeypatch.setenv(other, "http://[::1")  # not a URL: names no host, breaks nothing
    server.reply_json({})
    server.reply_json({})
    client = nebula("http://models.example.com/v1", key_is_explicit=False, http_client=proxied)
    client.get_json("/models")
    client.get_json("http://elsewhere.example.com/models")
    assert [r.headers.get("authorization") for r in server.requests] == [
        f"Bearer {API_KEY}",
        None,
    ]


def test_an_empty_environment_url_names_no_host(
    server: ScriptedServer, proxied: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEBULA_BASE_URL", "")
    monkeypatch.setenv("NEBULA_CATALOG_URL", "/relative/models")
    server.reply_json({"error": {"message": "who are you"}}, status=401)
    client = nebula("http://models.example.com/v1", key_is_explicit=False, http_client=proxied)
    with pytest.raises(NebulaAuthenticationError) as caught:
        client.get_json("/models")
    assert "authorization" not in server.requests[0].headers
    assert caught.value.message == f"who are you ({HINT.format(host='models.example.com')})"


def test_the_environment_key_is_held_back_from_other_hosts_with_a_hint(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.reply_json({"error": {"message": "no key"}}, status=401)
    server.reply_json({"error": {"message": "bad key"}}, status=401)
    with pytest.raises(NebulaAuthenticationError) as held:
        nebula(server.base_url, key_is_explicit=False).get_json("/models")
    with pytest.raises(NebulaAuthenticationError) as sent:
        nebula(server.base_url, key_is_explicit=True).get_json("/models")
    assert held.value.message == f"no key ({HINT.format(host='127.0.0.1')})"
    assert sent.value.message == "bad key"
    assert [r.headers.get("authorization") for r in server.requests] == [
        None,
        f"Bearer {API_KEY}",
    ]


@pytest.mark.parametrize(
    ("host", "warned"),
    [
        ("models.example.com", True),
        ("10.1.2.3", True),
        ("notlocalhost", True),
        ("localhost.example.com", True),
        ("localhost", False),
        ("api.localhost", False),
        ("127.0.0.2", False),
        ("[::1]", False),
    ],
)
def test_a_key_over_plain_http_warns_unless_the_host_is_loopback(
    server: ScriptedServer,
    proxied: httpx.Client,
    caplog: pytest.LogCaptureFixture,
    host: str,
    warned: bool,
) -> None:
    server.reply_json({})
    server.reply_json({})
    client = nebula(f"http://{host}/v1", http_client=proxied)
    with caplog.at_level(logging.WARNING, logger="langchain_nebula"):
        client.get_json("/models")
        client.get_json("/models")  # the same endpoint: warned once
    name = host.strip("[]")
    expected = (
        f"Sending the Nebula API key over plain http:// to {name}: anyone on the path can "
        "read it; use https://"
    )
    assert _warnings(caplog) == ([expected] if warned else [])
    assert [r.headers["authorization"] for r in server.requests] == [f"Bearer {API_KEY}"] * 2


def test_no_warning_over_https(
    server: ScriptedServer, proxied: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    client = nebula("https://models.example.com/v1", http_client=proxied)
    with (
        caplog.at_level(logging.WARNING, logger="langchain_nebula"),
        pytest.raises(NebulaError),  # the stand-in proxy cannot tunnel
    ):
        client.get_json("/models")
    assert _warnings(caplog) == []


def test_no_warning_without_a_key(
    server: ScriptedServer, proxied: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    server.reply_json({})
    with caplog.at_level(logging.WARNING, logger="langchain_nebula"):
        nebula("http://models.example.com/v1", api_key=None, http_client=proxied).get_json("/m")
    assert _warnings(caplog) == []
