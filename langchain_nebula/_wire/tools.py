"""Tools, ``tool_choice`` and structured-output formats → request fields.

Pure functions, no I/O: everything is validated at bind time so a bad choice fails
before any request is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass

__all__ = [
    "ToolLike",
    "format_tools",
    "json_schema_format",
    "normalise_tool_choice",
    "tool_binding",
]

ToolLike = Mapping[str, Any] | type | Callable[..., Any] | BaseTool
ToolChoice = str | bool | Mapping[str, Any] | None
StructuredMethod = Literal["json_schema", "function_calling", "json_mode"]

_PLAIN_CHOICES = frozenset({"auto", "none", "required"})


def format_tools(tools: Sequence[ToolLike], *, strict: bool | None) -> list[dict[str, Any]]:
    """Converts anything LangChain accepts as a tool to an OpenAI tool definition.

    Raises:
        ValueError: For a provider's built-in tool (``{"type": "web_search"}``, say):
            Chat Completions servers run only the functions you define.
    """
    for position, tool in enumerate(tools):
        if isinstance(tool, Mapping) and _is_builtin(tool):
            msg = (
                f"tools[{position}] is a built-in tool of type {tool.get('type')!r}, which "
                "OpenAI-compatible Chat Completions servers do not run; pass a function, "
                "a Pydantic model or a {'type': 'function', 'function': {...}} tool"
            )
            raise ValueError(msg)
    return [convert_to_openai_tool(tool, strict=strict) for tool in tools]


def _is_builtin(tool: Mapping[str, Any]) -> bool:
    kind = tool.get("type")
    if kind == "function" or kind is None:
        return False
    # A JSON schema ({"type": "object", "title": ...}) is a tool's parameters, not a type.
    return not ("properties" in tool or "title" in tool or kind == "object")


def tool_binding(
    tools: Sequence[ToolLike],
    tool_choice: ToolChoice,
    strict: bool | None,
    parallel_tool_calls: bool | None,
) -> dict[str, Any]:
    """The request fields ``bind_tools`` binds: tools, and the choice fields when set."""
    formatted = format_tools(tools, strict=strict)
    binding: dict[str, Any] = {"tools": formatted}
    choice = normalise_tool_choice(tool_choice, [tool["function"]["name"] for tool in formatted])
    if choice is not None:
        binding["tool_choice"] = choice
    if parallel_tool_calls is not None:
        binding["parallel_tool_calls"] = parallel_tool_calls
    return binding


def _named(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


def normalise_tool_choice(choice: ToolChoice, tool_names: Sequence[str]) -> Any:
    """Maps LangChain's ``tool_choice`` forms to the wire value.

    ``"any"`` means ``"required"``. With exactly one tool, ``"any"``, ``"required"`` and
    ``True`` become a named choice, which every vLLM accepts (older ones reject
    ``"required"``).

    Raises:
        ValueError: If the choice names no bound tool or has an unknown form.
    """
    if choice is None or choice is False:
        return None
    only = tool_names[0] if len(tool_names) == 1 else None
    if choice is True:
        if only is None:
            msg = f"tool_choice=True needs exactly one tool; {len(tool_names)} are bound"
            raise ValueError(msg)
        return _named(only)
    if isinstance(choice, str):
        if choice in ("any", "required"):
            return _named(only) if only is not None else "required"
        if choice in _PLAIN_CHOICES:
            return choice
        if choice in tool_names:
            return _named(choice)
        msg = (
            f"tool_choice {choice!r} is not 'auto', 'none', 'required', 'any' "
            f"or a bound tool ({', '.join(tool_names) or 'no tools bound'})"
        )
        raise ValueError(msg)
    if isinstance(choice, Mapping):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        if name is not None and name not in tool_names:
            msg = f"tool_choice names {name!r}, which is not a bound tool"
            raise ValueError(msg)
        return dict(choice)
    msg = f"tool_choice must be a string, bool or dict, got {type(choice).__name__}"
    raise ValueError(msg)


def schema_name(schema: Any) -> str:
    """The name the schema is sent under (its title, or the tool name)."""
    return str(convert_to_openai_tool(schema)["function"]["name"])


def json_schema_format(schema: Any, *, strict: bool | None) -> dict[str, Any]:
    """``response_format`` asking the server to constrain output to ``schema``."""
    if is_basemodel_subclass(schema):
        # Pydantic 2 models; pydantic.v1 models (still accepted by LangChain) use .schema()
        model_json_schema = getattr(schema, "model_json_schema", None) or schema.schema
        json_schema = model_json_schema()
    else:
        json_schema = convert_to_json_schema(schema)
    spec: dict[str, Any] = {"name": schema_name(schema), "schema": json_schema}
    if strict is not None:
        spec["strict"] = strict
    return {"type": "json_schema", "json_schema": spec}
