"""What the user configured is what goes on the wire: copies, assignment, typos, NaN."""

from __future__ import annotations

import math
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    HumanMessage,
)

from langchain_nebula import ChatNebula, NebulaTimeoutError
from tests.conftest import API_KEY
from tests.scripted_server import (
    Recorded,
    Reply,
    ScriptedServer,
    completion,
    generic_reply,
)

Make = Callable[..., ChatNebula]


@pytest.fixture
def other_server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer().start()
    scripted.default = generic_reply
    yield scripted
    scripted.stop()


def test_model_copy_with_a_new_base_url_and_key_sends_there(
    server: ScriptedServer, other_server: ScriptedServer, make_model: Make
) -> None:
    server.default = generic_reply
    model = make_model()
    model.invoke("warm up")  # derive and cache the connection first
    copy = model.model_copy(update={"base_url": other_server.base_url, "api_key": "ak_other"})
    copy.invoke("Hi")
    model.invoke("Hi")
    assert len(other_server.requests) == 1
    assert other_server.requests[0].headers["authorization"] == "Bearer ak_other"
    assert len(server.requests) == 2
    assert server.requests[1].headers["authorization"] == f"Bearer {API_KEY}"


def test_assigned_connection_settings_take_effect_on_the_next_call(
    server: ScriptedServer, other_server: ScriptedServer, make_model: Make
) -> None:
    server.default = generic_reply
    model = make_model()
    model.invoke("warm up")
    model.base_url = other_server.base_url
    model.api_key = "ak_assigned"  # type: ignore[assignment]
    model.default_headers = {"X-Team": "red"}
    model.invoke("Hi")
    sent = other_server.requests[0].headers
    assert (sent["authorization"], sent["x-team"]) == ("Bearer ak_assigned", "red")


def test_default_headers_changed_in_place_are_sent(
    server: ScriptedServer, make_model: Make
) -> None:
    server.default = generic_reply
    model = make_model(default_headers={"X-Team": "blue"})
    model.invoke("Hi")
    assert model.default_headers is not None
    model.default_headers["X-Team"] = "green"
    model.invoke("Hi")
    assert [r.headers["x-team"] for r in server.requests] == ["blue", "green"]


def test_assigned_max_retries_changes_the_number_of_attempts(
    server: ScriptedServer, make_model: Make
) -> None:
    down = {"error": {"message": "down"}}
    model = make_model(max_retries=0)
    model.max_retries = 1
    server.reply_json(down, status=503, headers={"retry-after-ms": "1"})
    server.reply_json(completion("second try"))
    assert model.invoke("Hi").content == "second try"
    assert len(server.requests) == 2


def _held(server: ScriptedServer) -> threading.Event:
    release = threading.Event()
    server.replies.append(Reply(200, {"Content-Type": "application/json"}, b"{}", hold=release))
    return release


def test_assigned_timeout_takes_effect(server: ScriptedServer, make_model: Make) -> None:
    server.default = generic_reply
    model = make_model()
    model.invoke("warm up")
    model.timeout = 0.3
    release = _held(server)
    started = time.monotonic()
    with pytest.raises(NebulaTimeoutError):
        model.invoke("Hi")
    release.set()
    assert time.monotonic() - started < 2.0


def test_timeout_applies_to_a_client_the_user_passed(
    server: ScriptedServer, make_model: Make
) -> None:
    release = _held(server)
    with httpx.Client(timeout=5.0) as client:
        model = make_model(http_client=client, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(NebulaTimeoutError):
            model.invoke("Hi")
    release.set()
    assert time.monotonic() - started < 2.0


async def test_timeout_applies_to_an_async_client_the_user_passed(
    server: ScriptedServer, make_model: Make
) -> None:
    release = _held(server)
    async with httpx.AsyncClient(timeout=5.0) as client:
        model = make_model(http_async_client=client, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(NebulaTimeoutError):
            await model.ainvoke("Hi")
    release.set()
    assert time.monotonic() - started < 2.0


def test_a_client_the_user_passed_keeps_its_own_timeout_when_none_is_set(
    server: ScriptedServer, make_model: Make
) -> None:
    release = _held(server)
    with httpx.Client(timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(NebulaTimeoutError):
            make_model(http_client=client).invoke("Hi")
    release.set()
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    ("keyword", "suggestion"),
    [("temprature", "temperature"), ("max_token", "max_tokens"), ("top_k", None)],
)
def test_unknown_keywords_are_sent_as_model_kwargs_with_a_warning(
    server: ScriptedServer, keyword: str, suggestion: str | None
) -> None:
    server.default = generic_reply
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = ChatNebula(base_url=server.base_url, api_key=None, **{keyword: 5})
    assert len(caught) == 1
    message = str(caught[0].message)
    hint = f"; did you mean {suggestion!r}?" if suggestion else ""
    assert message == (
        f"ChatNebula has no parameter {keyword!r}{hint} It was moved to model_kwargs "
        "and will be sent as a top-level request field."
    )
    assert caught[0].filename == __file__  # points at the caller, not at pydantic
    assert model.model_kwargs == {keyword: 5}
    model.invoke("Hi")
    assert server.requests[0].json[keyword] == 5


def test_a_known_field_in_model_kwargs_is_refused() -> None:
    with pytest.raises(
        ValueError,
        match=r"\['temperature'\] may not be set in model_kwargs: pass them as ChatNebula",
    ):
        ChatNebula(api_key=None, base_url="http://127.0.0.1:9/v1", model_kwargs={"temperature": 1})


def test_aliases_are_fields_not_unknown_keywords() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = ChatNebula(model_name="m", stop_sequences=["x"], request_timeout=3, api_key=None)
    assert (model.model, model.stop, model.timeout, model.model_kwargs) == ("m", ["x"], 3, {})


@pytest.mark.parametrize(
    "where",
    [
        {"kwargs": {"temperature": math.nan}},
        {"model_kwargs": {"min_p": math.inf}},
        {"extra_body": {"chat_template_kwargs": {"scale": [1.0, -math.inf]}}},
    ],
    ids=["call-kwarg", "model_kwargs", "extra_body"],
)
def test_nan_and_infinity_are_refused_before_sending(
    server: ScriptedServer, make_model: Make, where: dict[str, Any]
) -> None:
    model = make_model(**{k: v for k, v in where.items() if k != "kwargs"})
    with pytest.raises(ValueError, match=r"is NaN or infinite, which JSON cannot carry"):
        model.invoke("Hi", **where.get("kwargs", {}))
    assert server.requests == []


def test_nan_error_names_the_field(server: ScriptedServer, make_model: Make) -> None:
    model = make_model(extra_body={"chat_template_kwargs": {"scale": [1.0, math.nan]}})
    with pytest.raises(ValueError, match="NaN") as caught:
        model.invoke("Hi")
    assert str(caught.value) == (
        "request field chat_template_kwargs.scale[1] is NaN or infinite, which JSON cannot carry"
    )


def test_tool_call_arguments_in_history_keep_non_ascii_text(
    server: ScriptedServer, make_model: Make
) -> None:
    server.default = generic_reply
    earlier = AIMessage("", tool_calls=[{"name": "f", "args": {"city": "Québec"}, "id": "c1"}])
    make_model().invoke([HumanMessage("go"), earlier, HumanMessage("again")])
    body = server.requests[0].body.decode()
    assert '"arguments":"{\\"city\\": \\"Québec\\"}"' in body


@pytest.mark.parametrize(
    "options",
    [{"n": 2}, {"extra_body": {"n": 2}}, {"model_kwargs": {"n": 3}}],
    ids=["field", "extra_body", "model_kwargs-unknown"],
)
def test_several_choices_cannot_be_streamed_however_they_are_asked_for(
    server: ScriptedServer, make_model: Make, options: dict[str, Any]
) -> None:
    if "model_kwargs" in options:
        options = {"model_kwargs": {"n_extra": 1}, "extra_body": {"n": 3}}
    with pytest.raises(ValueError, match=r"n > 1 cannot be streamed"):
        list(make_model(**options).stream("Hi"))
    assert server.requests == []


# -- property: a changed copy sends exactly what a fresh model would ------------------

CONFIGS = st.fixed_dictionaries(
    {},
    optional={
        "api_key": st.sampled_from(["ak_one-key-0001", "sk-two-key-0002", None]),
        "temperature": st.sampled_from([0.0, 0.5, 1.5]),
        "max_tokens": st.integers(1, 100),
        "max_retries": st.integers(0, 3),
        "timeout": st.sampled_from([1.0, 30.0]),
        "default_headers": st.sampled_from([{"X-A": "1"}, {"X-B": "2", "X-C": "3"}]),
        "model": st.sampled_from(["m1", "deepseek-ai/DeepSeek-R1"]),
        "model_kwargs": st.sampled_from([{}, {"top_k": 4}]),
        "extra_body": st.sampled_from([None, {"min_p": 0.1}]),
        "stream_usage": st.booleans(),
    },
)


def _wire(requests: list[Recorded]) -> list[tuple[str, str, dict[str, str], Any]]:
    ignored = {"host", "content-length"}
    return [
        (r.method, r.path, {k: v for k, v in r.headers.items() if k not in ignored}, r.json)
        for r in requests
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(start=CONFIGS, change=CONFIGS, by=st.sampled_from(["model_copy", "assignment"]))
def test_changed_models_send_what_a_fresh_constructor_would(
    server: ScriptedServer,
    other_server: ScriptedServer,
    start: dict[str, Any],
    change: dict[str, Any],
    by: str,
) -> None:
    server.default = generic_reply
    model = ChatNebula(base_url=server.base_url, **start)
    model.invoke("warm up")
    update = {**change, "base_url": other_server.base_url}
    if by == "model_copy":
        changed = model.model_copy(update=update)
    else:
        changed = model
        for name, value in update.items():
            setattr(changed, name, value)
    fresh = ChatNebula(**{"base_url": server.base_url, **start, **update})
    other_server.requests.clear()
    changed.invoke("Hi")
    list(changed.stream("Hi"))
    fresh.invoke("Hi")
    list(fresh.stream("Hi"))
    first, second = other_server.requests[:2], other_server.requests[2:]
    assert _wire(first) == _wire(second)


@pytest.mark.parametrize(
    "bad",
    [
        {"temperature": -1},
        {"temperature": 3},
        {"max_tokens": 0},
        {"n": 0},
        {"top_p": 1.5},
        {"max_retries": -1},
    ],
)
def test_bad_parameters_fail_at_construction(bad: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError, match=next(iter(bad))):
        ChatNebula(**bad)


def test_model_kwargs_may_not_shadow_fields() -> None:
    with pytest.raises(pydantic.ValidationError, match="temperature"):
        ChatNebula(model_kwargs={"temperature": 0.5})
