"""The key is in no text a failure leaves, whatever the server answers.

Generated servers answer with a random status and content type, and a body (or
stream, or header) that echoes the key in one of the forms the redactor knows, at
any place. Whatever the call raises, no run of twelve characters of the key is in
its ``str``, ``repr``, ``args``, attributes, linked errors, its traceback printed
with every frame's locals, a warning, or a log record (httpx's and httpcore's own
DEBUG logs of raw headers excepted, as documented).
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langchain_nebula import ChatNebula, NebulaEmbeddings
from tests.scripted_server import Reply, ScriptedServer, chunk, completion, sse

KEY = "sk-abc/def+ghi=jkl0123456789"
FORMS = {
    "plain": KEY,
    "url": quote(KEY, safe=""),
    "form": quote_plus(KEY),
    "json": json.dumps(KEY)[1:-1],
    "slash": json.dumps(KEY)[1:-1].replace("/", "\\/"),
    "cut": KEY[:14] + "...",
}
# Every run of twelve characters of every form of the key.
RUNS = {form[i : i + 12] for form in (KEY, *FORMS.values()) for i in range(len(form) - 11)}
# Every character a JSON escape: the key itself once a body is decoded (its runs are
# the key's, above; in text that is not JSON it is not the key).
FORMS["escaped"] = "".join(f"\\u{ord(character):04x}" for character in KEY)
QUIET = ("httpx", "httpcore", "hpack", "asyncio")


def _holds_key(text: str) -> str | None:
    return next((run for run in RUNS if run in text), None)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(QUIET):
            self.lines.append(record.getMessage())


def _texts_of(error: BaseException) -> Iterator[str]:
    yield "".join(traceback.TracebackException.from_exception(error, capture_locals=True).format())
    seen: set[int] = set()
    linked: BaseException | None = error
    while linked is not None and id(linked) not in seen:
        seen.add(id(linked))
        yield str(linked)
        yield repr(linked)
        yield repr(linked.args)
        for name, value in vars(linked).items():
            yield f"{name}={value!r}"
        for name in ("__cause__", "__context__"):
            other = getattr(linked, name)
            if other is not None:
                yield repr(other)
        linked = linked.__cause__ or linked.__context__


def _failure(call: Callable[[], object]) -> BaseException | None:
    # The traceback starts here: this frame's locals hold no key.
    try:
        call()
    except Exception as error:  # every failure is inspected
        return error
    return None


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer().start()
    yield scripted
    scripted.stop()


ECHO = st.sampled_from(sorted(FORMS.values()))
AROUND = st.text(st.characters(codec="ascii", exclude_characters="\r\n"), max_size=12)


def _json_escapes_kept(dumped: str) -> str:
    """JSON text in which an echoed ``\\/`` or ``\\uXXXX`` stays an escape, as servers send it."""
    return dumped.replace("\\\\/", "\\/").replace("\\\\u", "\\u")


@st.composite
def bodies(draw: st.DrawFn, echo: str) -> bytes:
    before, after = draw(AROUND), draw(AROUND)
    said = f"{before}Authorization: Bearer {echo}{after}"
    shape = draw(st.sampled_from(["text", "error", "flat", "completion", "choices", "list"]))
    if shape == "text":
        return said.encode()
    value: Any = {
        "error": {"error": {"message": said, "type": said, "code": said}},
        "flat": {"object": "error", "message": said, "code": 500},
        "completion": completion(said, finish_reason=said),
        "choices": {"choices": said, "model": said},
        "list": [said],
    }[shape]
    return _json_escapes_kept(json.dumps(value)).encode()


@st.composite
def streams(draw: st.DrawFn, echo: str) -> list[bytes]:
    said = f"{draw(AROUND)}Bearer {echo}{draw(AROUND)}"
    fault = draw(
        st.sampled_from(
            [
                json.dumps(
                    {"error": {"message": said, "code": draw(st.sampled_from(["401", 503, said]))}}
                ),
                "{" + said,
                json.dumps({"choices": said}),
                json.dumps({"choices": [{"delta": said}]}),
                json.dumps([said]),
            ]
        )
    )
    lead = draw(st.integers(min_value=0, max_value=2))
    events: list[Any] = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": f"t{n}"}) for n in range(lead)]
    return sse(*events, _json_escapes_kept(fault), done=draw(st.booleans()))


@st.composite
def replies(draw: st.DrawFn) -> tuple[Reply, bool]:
    echo = draw(ECHO)
    status = draw(st.sampled_from([200, 201, 400, 401, 403, 404, 408, 422, 429, 500, 502, 503]))
    content_type = draw(
        st.sampled_from(["application/json", "text/html", "text/plain", "text/event-stream", ""])
    )
    headers = {"Content-Type": content_type}
    if draw(st.booleans()):
        headers[draw(st.sampled_from(["x-request-id", "x-litellm-call-id"]))] = f"req-{echo}"
    stream = draw(st.booleans())
    if stream and status < 300:
        return Reply(status, headers, pieces=draw(streams(echo))), True
    return Reply(status, headers, draw(bodies(echo))), stream


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scripted=replies(), in_async=st.booleans(), embeddings=st.booleans())
def test_the_key_is_in_no_text_a_failure_leaves(
    shared_server: ScriptedServer,
    scripted: tuple[Reply, bool],
    in_async: bool,
    embeddings: bool,
) -> None:
    reply, stream = scripted
    shared_server.replies.clear()
    shared_server.replies.append(reply)
    options: dict[str, Any] = {"base_url": shared_server.base_url, "api_key": KEY, "max_retries": 0}
    call: Callable[[], object]
    if embeddings and not stream:
        embedder = NebulaEmbeddings(**options)
        call = (
            (lambda: asyncio.run(embedder.aembed_query("Hi")))
            if in_async
            else (lambda: embedder.embed_query("Hi"))
        )
    else:
        model = ChatNebula(**options)
        if stream:

            async def consume() -> None:
                async for _ in model.astream("Hi"):
                    pass

            call = (
                (lambda: asyncio.run(consume())) if in_async else (lambda: list(model.stream("Hi")))
            )
        else:
            call = (
                (lambda: asyncio.run(model.ainvoke("Hi")))
                if in_async
                else (lambda: model.invoke("Hi"))
            )

    records = _Records()
    root = logging.getLogger()
    root.addHandler(records)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            error = _failure(call)
    finally:
        root.removeHandler(records)
        root.setLevel(level)
    places = [str(w.message) for w in warned] + records.lines
    if error is not None:
        places += list(_texts_of(error))
    for place in places:
        found = _holds_key(place)
        at = place.find(found) if found else 0
        assert found is None, f"{found!r} in:\n{place[max(at - 1500, 0) : at + 300]}"


def test_the_derived_connection_state_shows_no_key() -> None:
    gateway = "gw-secret-0123456789"
    model = ChatNebula(
        base_url="http://127.0.0.1:9/v1", api_key=KEY, default_headers={"X-Gateway": gateway}
    )
    client = model.nebula_client()
    endpoint = client._endpoint("/chat/completions", "POST", None)
    renderings = [repr(client), repr(endpoint), repr(endpoint.headers), str(endpoint.headers)]
    for text in renderings:
        assert _holds_key(text) is None
        assert gateway not in text
    assert endpoint.headers["Authorization"] == f"Bearer {KEY}"  # what is sent is whole


@pytest.mark.parametrize("shape", ["malformed", "completion"])
def test_a_key_echoed_as_json_escapes_in_a_2xx_body_is_masked(
    shared_server: ScriptedServer, shape: str
) -> None:
    said = f"Authorization: Bearer {FORMS['escaped']}"
    value = {"choices": said} if shape == "malformed" else completion(said)
    shared_server.replies.clear()
    shared_server.reply_raw(
        _json_escapes_kept(json.dumps(value)).encode(), content_type="application/json"
    )
    model = ChatNebula(base_url=shared_server.base_url, api_key=KEY, max_retries=0)
    if shape == "completion":
        reply = model.invoke("Hi")
        assert reply.content == "Authorization: Bearer ***"
        return
    error = _failure(lambda: model.invoke("Hi"))
    assert error is not None
    for text in _texts_of(error):
        assert _holds_key(text) is None, text
