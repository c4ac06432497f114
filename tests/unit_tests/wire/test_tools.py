"""tool_choice and structured-output formats → request fields, exactly."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from pydantic import BaseModel

from langchain_nebula._wire.tools import json_schema_format, normalise_tool_choice


def named(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


def refusal(choice: Any, tools: list[str]) -> str:
    with pytest.raises(ValueError, match="tool_choice") as caught:
        normalise_tool_choice(choice, tools)
    return str(caught.value)


@pytest.mark.parametrize(
    ("choice", "tools", "wire"),
    [
        (None, ["a"], None),
        (False, ["a"], None),
        (True, ["a"], named("a")),
        ("any", ["a"], named("a")),
        ("required", ["a"], named("a")),
        ("any", ["a", "b"], "required"),
        ("required", [], "required"),
        ("auto", ["a"], "auto"),
        ("none", ["a", "b"], "none"),
        ("b", ["a", "b"], named("b")),
        (named("a"), ["a", "b"], named("a")),
        ({"type": "function"}, ["a"], {"type": "function"}),
        ({"type": "function", "function": "a"}, ["a"], {"type": "function", "function": "a"}),
    ],
)
def test_each_tool_choice_form_maps_to_its_wire_value(
    choice: Any, tools: list[str], wire: Any
) -> None:
    assert normalise_tool_choice(choice, tools) == wire


def test_a_dict_choice_is_sent_as_a_copy() -> None:
    choice = named("a")
    sent = normalise_tool_choice(choice, ["a"])
    assert sent == choice
    assert sent is not choice


@pytest.mark.parametrize(("tools", "count"), [([], 0), (["a", "b"], 2)])
def test_true_needs_exactly_one_tool(tools: list[str], count: int) -> None:
    assert refusal(True, tools) == f"tool_choice=True needs exactly one tool; {count} are bound"


def test_an_unknown_name_is_refused_listing_the_bound_tools() -> None:
    assert refusal("c", ["a", "b"]) == (
        "tool_choice 'c' is not 'auto', 'none', 'required', 'any' or a bound tool (a, b)"
    )


def test_an_unknown_name_with_no_tools_bound_says_so() -> None:
    assert refusal("c", []) == (
        "tool_choice 'c' is not 'auto', 'none', 'required', 'any' or a bound tool (no tools bound)"
    )


def test_a_dict_naming_an_unbound_tool_is_refused() -> None:
    assert refusal(named("c"), ["a"]) == "tool_choice names 'c', which is not a bound tool"


def test_a_choice_of_another_type_is_refused_naming_it() -> None:
    assert refusal(5, ["a"]) == "tool_choice must be a string, bool or dict, got int"


class Person(BaseModel):
    """A person."""

    name: str


def test_a_pydantic_schema_becomes_a_json_schema_format_without_deprecation_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert json_schema_format(Person, strict=True) == {
            "type": "json_schema",
            "json_schema": {
                "name": "Person",
                "schema": {
                    "description": "A person.",
                    "properties": {"name": {"title": "Name", "type": "string"}},
                    "required": ["name"],
                    "title": "Person",
                    "type": "object",
                },
                "strict": True,
            },
        }


def test_a_json_schema_without_strict_has_no_strict_field() -> None:
    schema = {"title": "T", "type": "object", "properties": {}}
    assert json_schema_format(schema, strict=None) == {
        "type": "json_schema",
        "json_schema": {"name": "T", "schema": schema},
    }
