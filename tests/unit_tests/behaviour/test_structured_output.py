"""Structured output: the request each method sends, what it parses, cut and bad replies."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from langchain_nebula import ChatNebula
from tests.scripted_server import ScriptedServer, chunk, completion, sse, tool_delta

Make = Callable[..., ChatNebula]


class Weather(BaseModel):
    """Weather in a city."""

    city: str = Field(description="City name")
    celsius: float


class Person(TypedDict):
    """A person."""

    name: str
    age: int


PERSON_SCHEMA = {
    "title": "Person",
    "description": "A person.",
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def tool_call_completion(
    name: str, arguments: str, call_id: str = "chatcmpl-tool-1"
) -> dict[str, Any]:
    calls = [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    ]
    return completion(None, finish_reason="tool_calls", tool_calls=calls)


CUT = (
    "the reply was cut off at the token limit (finish_reason 'length') before the "
    "structured output was complete; raise max_tokens or ask for less"
)


def test_json_schema_structured_output_sends_the_schema_and_parses(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(completion('{"city": "Montreal", "celsius": -5.5}'))
    result = make_model().with_structured_output(Weather).invoke("Weather?")
    assert result == Weather(city="Montreal", celsius=-5.5)
    response_format = server.requests[0].json["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "Weather"
    assert response_format["json_schema"]["schema"] == Weather.model_json_schema()
    assert "strict" not in response_format["json_schema"]


@pytest.mark.parametrize("schema", [Person, PERSON_SCHEMA])
def test_json_schema_with_dict_schemas_returns_dicts(
    server: ScriptedServer, make_model: Make, schema: Any
) -> None:
    server.reply_json(completion('{"name": "Ada", "age": 36}'))
    result = make_model().with_structured_output(schema, strict=True).invoke("Who?")
    assert result == {"name": "Ada", "age": 36}
    spec = server.requests[0].json["response_format"]["json_schema"]
    assert spec["name"] == "Person"
    assert spec["strict"] is True
    assert spec["schema"]["properties"] == PERSON_SCHEMA["properties"]


def test_function_calling_structured_output_forces_the_named_tool(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(tool_call_completion("Weather", '{"city": "Oslo", "celsius": 2}'))
    result = (
        make_model().with_structured_output(Weather, method="function_calling").invoke("Weather?")
    )
    assert result == Weather(city="Oslo", celsius=2)
    sent = server.requests[0].json
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "Weather"}}
    assert [t["function"]["name"] for t in sent["tools"]] == ["Weather"]
    assert "response_format" not in sent


def test_json_mode_asks_for_a_json_object(server: ScriptedServer, make_model: Make) -> None:
    server.reply_json(completion('{"name": "Ada", "age": 36}'))
    result = make_model().with_structured_output(Person, method="json_mode").invoke("Reply in JSON")
    assert result == {"name": "Ada", "age": 36}
    assert server.requests[0].json["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize(
    ("method", "reply"),
    [
        ("json_schema", completion("this is not JSON")),
        ("json_mode", completion('{"city": "Oslo"}')),
        ("function_calling", tool_call_completion("Weather", '{"city": "Oslo"}')),
    ],
)
def test_include_raw_never_raises_on_a_bad_reply(
    server: ScriptedServer, make_model: Make, method: Any, reply: dict[str, Any]
) -> None:
    server.reply_json(reply)
    structured = make_model().with_structured_output(Weather, method=method, include_raw=True)
    result = structured.invoke("Weather?")
    assert isinstance(result, dict)
    assert result["parsed"] is None
    assert result["parsing_error"] is not None
    assert isinstance(result["raw"], AIMessage)


def test_function_calling_without_a_call_raises_with_the_text(
    server: ScriptedServer, make_model: Make
) -> None:
    # LangChain's tool parsers return None when the model made no call: never silently.
    server.reply_json(completion("I would rather chat."))
    model = make_model().with_structured_output(Weather, method="function_calling")
    with pytest.raises(OutputParserException, match="instead of calling the schema's tool") as info:
        model.invoke("?")
    assert info.value.llm_output == "I would rather chat."


def test_function_calling_without_a_call_is_the_parsing_error_with_include_raw(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(completion("I would rather chat."))
    model = make_model().with_structured_output(
        Weather, method="function_calling", include_raw=True
    )
    out = model.invoke("?")
    assert out["parsed"] is None
    assert isinstance(out["parsing_error"], OutputParserException)
    assert out["raw"].content == "I would rather chat."


def test_function_calling_asks_for_one_call(server: ScriptedServer, make_model: Make) -> None:
    server.reply_json(tool_call_completion("Weather", '{"city": "Rome", "celsius": 2}'))
    make_model().with_structured_output(Weather, method="function_calling").invoke("?")
    assert server.requests[0].json["parallel_tool_calls"] is False


def test_disabled_parallel_tool_calls_are_not_asked_for(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(tool_call_completion("Weather", '{"city": "Rome", "celsius": 2}'))
    model = make_model(disabled_params={"parallel_tool_calls": None})
    model.with_structured_output(Weather, method="function_calling").invoke("?")
    assert "parallel_tool_calls" not in server.requests[0].json


def test_include_raw_returns_parsed_and_raw_on_success(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(completion('{"city": "Rome", "celsius": 20}'))
    result = make_model().with_structured_output(Weather, include_raw=True).invoke("Weather?")
    assert isinstance(result, dict)
    assert result["parsed"] == Weather(city="Rome", celsius=20)
    assert result["parsing_error"] is None


def test_unknown_structured_output_method_is_rejected(make_model: Make) -> None:
    with pytest.raises(ValueError, match="method must be"):
        make_model().with_structured_output(Weather, method="xml")  # type: ignore[arg-type]


def test_streamed_structured_output_yields_growing_partial_objects(
    server: ScriptedServer, make_model: Make
) -> None:
    pieces = ['{"name": "A', 'da", "a', 'ge": 3', "6}"]
    server.reply_stream(
        sse(*[chunk({"content": p}) for p in pieces], chunk({}, finish_reason="stop"))
    )
    partials = list(make_model().with_structured_output(Person).stream("Who?"))
    assert partials[0] == {"name": "A"}
    assert partials[-1] == {"name": "Ada", "age": 36}
    assert len(partials) >= 3


def test_streamed_function_calling_structured_output(
    server: ScriptedServer, make_model: Make
) -> None:
    fragments = ['{"name": ', '"Ada", ', '"age": 36}']
    events = [tool_delta("", id="t1", name="Person")] + [tool_delta(f) for f in fragments]
    server.reply_stream(sse(*events, chunk({}, finish_reason="tool_calls")))
    structured = make_model().with_structured_output(Person, method="function_calling")
    assert list(structured.stream("Who?"))[-1] == {"name": "Ada", "age": 36}


def test_structured_output_request_is_traced_with_its_schema(
    server: ScriptedServer, make_model: Make
) -> None:
    from langchain_core.callbacks import BaseCallbackHandler

    seen: list[dict[str, Any]] = []

    class Capture(BaseCallbackHandler):
        def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
            seen.append(kwargs.get("options") or {})

    server.reply_json(completion(json.dumps({"name": "Ada", "age": 36})))
    make_model().with_structured_output(Person).invoke("Who?", config={"callbacks": [Capture()]})
    assert seen[0]["ls_structured_output_format"]["kwargs"]["method"] == "json_schema"
    assert "ls_structured_output_format" not in server.requests[0].json


def test_pydantic_v1_models_work_with_json_schema(server: ScriptedServer, make_model: Make) -> None:
    from pydantic import v1

    class Legacy(v1.BaseModel):
        """An old-style model."""

        word: str

    server.reply_json(completion('{"word": "hi"}'))
    result = make_model().with_structured_output(Legacy).invoke("?")
    assert result == Legacy(word="hi")
    assert server.requests[0].json["response_format"]["json_schema"]["schema"]["properties"] == {
        "word": {"title": "Word", "type": "string"}
    }


class City(BaseModel):
    """A city and its country."""

    name: str
    country: str = ""


@pytest.mark.parametrize("method", ["json_schema", "json_mode"])
def test_streamed_pydantic_output_is_one_complete_validated_object(
    server: ScriptedServer, make_model: Make, method: str
) -> None:
    # Partial JSON such as {"name": "Paris", "country": "Fr would validate as
    # City(country='Fr') or City(country=''): objects that look complete but are not.
    pieces = ['{"name": "Par', 'is", "coun', 'try": "Fr', 'ance"}']
    server.reply_stream(
        sse(*[chunk({"content": p}) for p in pieces], chunk({}, finish_reason="stop"))
    )
    streamed = list(make_model().with_structured_output(City, method=method).stream("?"))
    assert streamed == [City(name="Paris", country="France")]


async def test_astreamed_pydantic_function_calling_output_is_one_object(
    server: ScriptedServer, make_model: Make
) -> None:
    fragments = ['{"name": ', '"Paris", ', '"country": "Fr', 'ance"}']
    events = [tool_delta("", id="t1", name="City")] + [tool_delta(f) for f in fragments]
    server.reply_stream(sse(*events, chunk({}, finish_reason="tool_calls")))
    structured = make_model().with_structured_output(City, method="function_calling")
    streamed = [item async for item in structured.astream("?")]
    assert streamed == [City(name="Paris", country="France")]


def test_streamed_pydantic_output_that_does_not_validate_raises(
    server: ScriptedServer, make_model: Make
) -> None:
    from langchain_core.exceptions import OutputParserException

    server.reply_stream(sse(chunk({"content": '{"country": "France"}'})))
    with pytest.raises(OutputParserException):
        list(make_model().with_structured_output(City).stream("?"))


@pytest.mark.parametrize(
    ("schema", "method"),
    [(Weather, "json_schema"), (Person, "json_schema"), (Person, "json_mode")],
    ids=["pydantic", "typeddict", "json_mode"],
)
def test_a_reply_cut_at_the_token_limit_is_refused_not_repaired(
    server: ScriptedServer, make_model: Make, schema: Any, method: Any
) -> None:
    # Repaired, '{"name": "Ada' would parse as a complete {"name": "Ada"}.
    server.reply_json(completion('{"name": "Ada', finish_reason="length"))
    with pytest.raises(OutputParserException) as caught:
        make_model().with_structured_output(schema, method=method).invoke("Who?")
    assert str(caught.value).startswith(CUT)
    assert caught.value.llm_output == '{"name": "Ada'


def test_a_cut_tool_call_is_refused_too(server: ScriptedServer, make_model: Make) -> None:
    call = {"id": "t1", "type": "function", "function": {"name": "Person", "arguments": "{"}}
    server.reply_json(completion(None, finish_reason="length", tool_calls=[call]))
    structured = make_model().with_structured_output(Person, method="function_calling")
    with pytest.raises(OutputParserException, match="cut off at the token limit"):
        structured.invoke("Who?")


def test_a_cut_stream_yields_its_partials_then_raises(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_stream(
        sse(chunk({"content": '{"name": "Ada", "a'}), chunk({}, finish_reason="length"))
    )
    partials: list[Any] = []
    with pytest.raises(OutputParserException, match="cut off at the token limit"):
        partials.extend(make_model().with_structured_output(Person).stream("Who?"))
    assert partials == [{"name": "Ada"}]


async def test_a_cut_reply_is_refused_async(server: ScriptedServer, make_model: Make) -> None:
    server.reply_json(completion('{"temp', finish_reason="length"))
    server.reply_stream(sse(chunk({"content": '{"temp'}), chunk({}, finish_reason="length")))
    structured = make_model().with_structured_output(Weather)
    with pytest.raises(OutputParserException, match="cut off at the token limit"):
        await structured.ainvoke("Weather?")
    with pytest.raises(OutputParserException, match="cut off at the token limit"):
        async for _ in structured.astream("Weather?"):
            pass


def test_with_include_raw_a_cut_reply_is_the_parsing_error(
    server: ScriptedServer, make_model: Make
) -> None:
    server.reply_json(completion('{"name": "Ada', finish_reason="length"))
    out = make_model().with_structured_output(Person, include_raw=True).invoke("Who?")
    assert out["parsed"] is None
    assert isinstance(out["parsing_error"], OutputParserException)
    assert out["raw"].content == '{"name": "Ada'
