"""The API key: cleaned at construction, sent only where it belongs, never shown."""

from __future__ import annotations

import copy
import logging
import pickle
import warnings
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pydantic
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.load import dumpd, dumps

from langchain_nebula import (
    ChatNebula,
    NebulaAuthenticationError,
    NebulaBadRequestError,
    NebulaError,
)
from langchain_nebula.catalog import list_models
from tests.conftest import API_KEY
from tests.scripted_server import ScriptedServer, completion, generic_reply

Make = Callable[..., ChatNebula]


# -- cleaning and refusing ------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [f"{API_KEY}\n", f"  {API_KEY} ", f"{API_KEY}\u00a0", f"\u200b{API_KEY}\u200b\r\n"],
    ids=["newline", "spaces", "nbsp", "zero-width"],
)
def test_surrounding_whitespace_is_removed_from_the_key(
    server: ScriptedServer, raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.default = generic_reply
    ChatNebula(base_url=server.base_url, api_key=raw).invoke("Hi")
    monkeypatch.setenv("NEBULA_API_KEY", raw)
    monkeypatch.setenv("NEBULA_BASE_URL", server.base_url)
    ChatNebula().invoke("Hi")  # from a secret mount, with its trailing newline
    assert [r.headers["authorization"] for r in server.requests] == [f"Bearer {API_KEY}"] * 2


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ("ak_test\u00e9key-0123456789", "LATIN SMALL LETTER E WITH ACUTE (U+00E9) at position 7"),
        ("ak_test-key\u200b0123456789", "ZERO WIDTH SPACE (U+200B) at position 11"),
        ("ak_test-key\n0123456789", "U+000A (U+000A) at position 11"),
    ],
)
def test_a_key_that_cannot_be_a_header_is_refused_without_echoing_it(bad: str, named: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        ChatNebula(api_key=bad)
    text = str(caught.value)
    assert f"api_key contains {named}, which cannot be sent in an HTTP header" in text
    assert bad not in text
    assert bad.split()[0][:8] not in text.replace("api_key", "")


def test_a_bad_key_from_the_environment_is_refused_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEBULA_API_KEY", "ak_env\u00e9-key-0123456789")
    with pytest.raises(pydantic.ValidationError, match="api_key contains LATIN SMALL LETTER E"):
        ChatNebula()


def test_a_bad_key_assigned_later_is_refused(make_model: Make) -> None:
    model = make_model()
    with pytest.raises(pydantic.ValidationError, match="cannot be sent in an HTTP header"):
        model.api_key = "ak_\u00e9"  # type: ignore[assignment]


def test_validation_errors_never_print_the_key() -> None:
    # A model-level error used to print every constructor argument, the key included.
    with pytest.raises(pydantic.ValidationError) as caught:
        ChatNebula(api_key=API_KEY, model_kwargs={"temperature": 1})
    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(caught.value.errors())


def test_a_local_failure_is_not_retried_and_keeps_the_key_out() -> None:
    calls = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.LocalProtocolError(f"Illegal header value {request.headers['authorization']!r}")

    with httpx.Client(transport=httpx.MockTransport(refuse)) as client:
        model = ChatNebula(
            base_url="http://127.0.0.1:9/v1", api_key=API_KEY, http_client=client, max_retries=3
        )
        with pytest.raises(NebulaBadRequestError) as caught:
            model.invoke("Hi")
    assert len(calls) == 1
    error = caught.value
    assert error.message == (
        "the request could not be sent (LocalProtocolError: Illegal header value 'Bearer ***')"
    )
    assert error.__cause__ is None  # the original text held the key
    assert API_KEY not in repr(error.args)


# -- redaction ------------------------------------------------------------------------


class _Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.errors.append(error)


SLASH_KEY = "sk-abc/def+ghi=jkl0123456789"


@pytest.mark.parametrize(
    ("key", "echo"),
    [
        (API_KEY, API_KEY),
        (SLASH_KEY, quote(SLASH_KEY, safe="")),  # URL-encoded
        (SLASH_KEY, SLASH_KEY.replace("/", "\\/")),  # JSON-escaped slash, as PHP sends it
        (API_KEY, API_KEY[:16] + "..."),  # cut short by the server's own truncation
    ],
    ids=["plain", "url-encoded", "json-escaped", "truncated"],
)
def test_an_echoed_key_is_masked_everywhere_an_error_keeps_text(
    server: ScriptedServer, key: str, echo: str, caplog: pytest.LogCaptureFixture
) -> None:
    fragment = key[:16]
    body = {"error": {"message": f"Invalid key {echo} for model x", "type": "auth_error"}}
    text = __import__("json").dumps(body).replace("\\\\/", "\\/")
    for _ in range(2):
        server.reply_raw(
            text.encode(),
            status=401,
            content_type="application/json",
            headers={"x-request-id": f"req-{echo}"},
        )
    recorder = _Recorder()
    model = ChatNebula(base_url=server.base_url, api_key=key, max_retries=0)
    with caplog.at_level(logging.DEBUG), pytest.raises(NebulaAuthenticationError) as caught:
        model.invoke("Hi", config={"callbacks": [recorder]})
    error = caught.value
    assert error.message == "Invalid key *** for model x" or error.message.startswith(
        "Invalid key ***"
    )
    places = [
        str(error),
        repr(error),
        repr(error.args),
        str(error.body),
        str(error.raw_message),
        str(error.request_id),
        repr(recorder.errors),
        # Our own log lines; httpcore's DEBUG log of raw response headers is its own.
        "\n".join(r.getMessage() for r in caplog.records if r.name == "langchain_nebula"),
    ]
    for place in places:
        assert fragment not in place
    assert error.request_id is not None
    assert error.request_id.startswith("req-***")


def test_a_key_in_a_stream_error_event_is_masked(server: ScriptedServer, make_model: Make) -> None:
    from tests.scripted_server import sse

    server.reply_stream(sse({"error": {"message": f"key {API_KEY} revoked", "code": "401"}}))
    with pytest.raises(NebulaAuthenticationError) as caught:
        list(make_model().stream("Hi"))
    assert caught.value.message == "error event in stream: key *** revoked"
    assert API_KEY[:12] not in str(caught.value.body)


# -- where the key goes ---------------------------------------------------------------


def test_the_environment_key_is_not_sent_to_another_host(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEBULA_API_KEY", API_KEY)
    server.reply_json({"error": {"message": "no key"}}, status=401)
    with pytest.raises(NebulaAuthenticationError) as caught:
        ChatNebula(base_url=server.base_url, max_retries=0).invoke("Hi")
    assert "authorization" not in server.requests[0].headers
    assert caught.value.message == (
        "no key (NEBULA_API_KEY is set but only goes to Nebula's hosts or the host of "
        "NEBULA_BASE_URL; pass api_key=... to send a key to 127.0.0.1)"
    )


def test_the_environment_key_goes_to_the_host_the_environment_names(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.default = generic_reply
    monkeypatch.setenv("NEBULA_API_KEY", API_KEY)
    monkeypatch.setenv("NEBULA_BASE_URL", server.base_url)
    ChatNebula().invoke("Hi")
    ChatNebula(base_url=server.base_url).invoke("Hi")  # the same host, named again
    assert [r.headers.get("authorization") for r in server.requests] == [f"Bearer {API_KEY}"] * 2


def test_an_explicit_key_goes_wherever_base_url_says(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.default = generic_reply
    monkeypatch.setenv("NEBULA_API_KEY", "ak_from-the-environment-0000")
    ChatNebula(base_url=server.base_url, api_key=API_KEY).invoke("Hi")
    assert server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


def test_catalog_keys(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.default = generic_reply
    monkeypatch.setenv("NEBULA_API_KEY", API_KEY)
    url = f"{server.base_url}/models"
    list_models(url=url)  # an unnamed host: the environment's key stays home
    list_models(url=url, api_key=None)  # no key at all
    list_models(url=url, api_key="ak_explicit-0000")
    monkeypatch.setenv("NEBULA_CATALOG_URL", url)
    list_models()  # the environment names this host
    assert [r.headers.get("authorization") for r in server.requests] == [
        None,
        None,
        "Bearer ak_explicit-0000",
        f"Bearer {API_KEY}",
    ]


def test_no_key_for_nebula_fails_before_any_request() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request should be sent")

    with httpx.Client(transport=httpx.MockTransport(refuse)) as client:
        model = ChatNebula(api_key=None, http_client=client)
        with pytest.raises(
            NebulaAuthenticationError,
            match=r"^No Nebula API key: set the NEBULA_API_KEY environment variable or pass",
        ):
            model.invoke("Hi")


def test_a_key_over_plain_http_to_a_remote_host_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        httpx.Client(
            transport=httpx.MockTransport(lambda r: httpx.Response(200, json=completion()))
        ) as client,
        caplog.at_level(logging.WARNING, logger="langchain_nebula"),
    ):
        model = ChatNebula(
            base_url="http://models.example.com/v1", api_key=API_KEY, http_client=client
        )
        model.invoke("Hi")
        model.invoke("Hi")
        ChatNebula(base_url="http://127.0.0.1:8080/v1", api_key=API_KEY)  # loopback: fine
        ChatNebula(base_url="http://localhost:8080/v1", api_key=API_KEY)
    warned = [r.getMessage() for r in caplog.records]
    assert warned == [
        "Sending the Nebula API key over plain http:// to models.example.com: anyone on "
        "the path can read it; use https://"
    ]


# -- base_url credentials and default_headers -----------------------------------------


def test_credentials_in_base_url_are_refused_without_showing_them(make_model: Make) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        ChatNebula(base_url="https://alice:s3cret-pw@inference.example.com/v1", api_key=None)
    assert "base_url must not carry credentials (user:password@host)" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    model = make_model()
    with pytest.raises(pydantic.ValidationError) as assigned:
        model.base_url = "https://alice:s3cret-pw@inference.example.com/v1"
    assert "s3cret" not in str(assigned.value)


@pytest.mark.parametrize("name", ["Authorization", "authorization", "AUTHORIZATION"])
def test_default_headers_cannot_add_a_second_authorization(name: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="default_headers may not set Authorization"):
        ChatNebula(api_key=API_KEY, default_headers={name: "Basic abc"})


def test_default_headers_may_carry_authorization_when_there_is_no_key(
    server: ScriptedServer,
) -> None:
    server.default = generic_reply
    ChatNebula(
        base_url=server.base_url, api_key=None, default_headers={"Authorization": "Basic x"}
    ).invoke("Hi")
    assert server.requests[0].headers["authorization"] == "Basic x"


def test_default_header_values_are_not_shown(make_model: Make) -> None:
    model = make_model(default_headers={"X-Gateway-Token": "gw-secret-0123456789"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        renderings = [repr(model), str(model), dumps(model), str(dumpd(model))]
    for text in renderings:
        assert "gw-secret-0123456789" not in text
    assert "default_headers" not in dumpd(model)["kwargs"]  # may carry credentials


def test_a_header_that_http_cannot_carry_is_refused() -> None:
    with pytest.raises(
        pydantic.ValidationError, match=r"default_headers\['X-Note'\] cannot be sent"
    ):
        ChatNebula(
            api_key=None, base_url="http://127.0.0.1:9/v1", default_headers={"X-Note": "café"}
        )


def test_only_long_runs_of_the_key_are_masked() -> None:
    from langchain_nebula._redaction import Redactor

    redact = Redactor("sk-nebula-test-master-key").text
    # A model named like the (readable) test key shares eleven characters with it: kept.
    assert redact("model=nebula-test/no-such-model") == "model=nebula-test/no-such-model"
    assert redact("key sk-nebula-tes… rejected") == "key ***… rejected"  # twelve: masked
    assert redact("key sk-nebula-test-master-key!") == "key ***!"


def test_key_is_absent_from_every_rendering(make_model: Make) -> None:
    model = make_model()
    renderings = [
        repr(model),
        str(model),
        str(model.model_dump()),
        str(model.asdict()),
        dumps(model),
        str(dumpd(model)),
        str(model._get_ls_params()),
        str(model._get_invocation_params()),
        str(model._identifying_params),
    ]
    for text in renderings:
        assert API_KEY not in text
    assert model.api_key is not None
    assert model.api_key.get_secret_value() == API_KEY


def test_serialized_model_refers_to_the_env_var_not_the_key(make_model: Make) -> None:
    assert dumpd(make_model())["kwargs"]["api_key"] == {
        "lc": 1,
        "type": "secret",
        "id": ["NEBULA_API_KEY"],
    }


def test_key_is_absent_from_errors_and_debug_logs(
    server: ScriptedServer, make_model: Make, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(2):
        server.reply_json(
            {"error": {"message": "down", "code": 500}}, status=500, headers={"Retry-After": "0"}
        )
    with caplog.at_level(logging.DEBUG), pytest.raises(NebulaError) as caught:
        make_model(max_retries=1).invoke("Hi")
    assert "retry 1 of 1" in caplog.text
    assert API_KEY not in caplog.text
    assert API_KEY not in repr(caught.value)
    assert API_KEY not in str(caught.value)
    assert API_KEY not in str(caught.value.body)


def test_aliases_and_env_var_set_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ChatNebula(nebula_api_key="ak_alias").api_key.get_secret_value() == "ak_alias"  # type: ignore[union-attr]
    monkeypatch.setenv("NEBULA_API_KEY", "ak_env")
    assert ChatNebula().api_key.get_secret_value() == "ak_env"  # type: ignore[union-attr]


def test_model_can_be_copied_and_pickled_and_still_works(
    server: ScriptedServer, make_model: Make
) -> None:
    from tests.scripted_server import completion

    model = make_model(temperature=0.3)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        server.reply_json(completion("clone"))
        assert clone.invoke("Hi").content == "clone"
        assert server.requests[-1].headers["authorization"] == f"Bearer {API_KEY}"
        assert server.requests[-1].json["temperature"] == 0.3
