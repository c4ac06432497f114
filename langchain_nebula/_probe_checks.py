"""The checks ``langchain_nebula.probe`` runs: one request each, and how it is judged.

Each check builds a runnable from the probing ``ChatNebula`` (tools bound, a
``response_format``, an image message) and judges the reply; a refusal of the request
is the answer "no". ``probe`` runs them and turns the verdicts into a profile.
"""

from __future__ import annotations

import base64
import json
import pprint
import struct
import zlib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import LanguageModelInput, ModelProfile
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable

from langchain_nebula.catalog import NebulaModel
from langchain_nebula.chat_models import ChatNebula
from langchain_nebula.errors import (
    NebulaBadRequestError,
    NebulaError,
    NebulaServerError,
)

CheckGroup = Literal["tools", "json_schema", "image", "reasoning", "context"]
"""A group of checks ``probe`` can run (``checks=``)."""

ReasoningForm = Literal["field", "tags"]

# A refusal of the request (or an unusable answer) is the answer "no"; anything else
# (connection, key, unknown model, rate limit, timeout) is raised.
REFUSALS = (NebulaBadRequestError, NebulaServerError, OutputParserException)
_TOOL_PROMPT = "What is the weather in Paris? Use a tool."
_JSON_PROMPT = 'What is 2 + 3? Answer as JSON: {"answer": <number>}.'
_REASONING_PROMPT = "What is 17 + 25? Think step by step."
_IMAGE_PROMPT = "What colour is this image? One word."
_ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "integer"}},
    "required": ["answer"],
    "additionalProperties": False,
}


def _tool(name: str, description: str) -> dict[str, Any]:
    city = {"type": "string", "description": "The city, e.g. Paris"}
    parameters = {"type": "object", "properties": {"city": city}, "required": ["city"]}
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


# Two tools, so that "required" goes out as "required" (with one, ChatNebula names it).
_TOOLS = [
    _tool("get_weather", "Get the current weather in a city."),
    _tool("get_time", "Get the current local time in a city."),
]
_TOOL_NAMES = frozenset({"get_weather", "get_time"})


def tiny_png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid PNG of one colour, written with the standard library.

    Args:
        width: Pixels across.
        height: Pixels down.
        rgb: The colour.

    Returns:
        The PNG file's bytes.

    Example:
        .. code-block:: python

            image_data = base64.b64encode(tiny_png(64, 48)).decode()
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * width  # filter type 0, then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def _image_message(url: str) -> list[BaseMessage]:
    return [
        HumanMessage(
            content=[
                {"type": "text", "text": _IMAGE_PROMPT},
                {"type": "image_url", "image_url": {"url": url}},
            ]
        )
    ]


@dataclass(frozen=True)
class ProbeCheck:
    """One request of a probe and what its answer showed.

    Attributes:
        name: What was asked, e.g. ``"tool_choice=required"``.
        accepted: Whether the server answered 2xx.
        passed: Whether the answer showed the capability.
        detail: What happened, in words (the server's error message when refused).
        input_tokens: Prompt tokens the server counted (0 when refused).
        output_tokens: Completion tokens the server counted (0 when refused).
    """

    name: str
    accepted: bool
    passed: bool
    detail: str
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class ProbeReport:
    """What a probe found, and what it cost.

    Attributes:
        model: The model id probed.
        base_url: The API root the requests went to.
        profile: The profile found: pass it as ``ChatNebula(profile=...)``.
        checks: Every check, in the order sent.
        tool_choice_forms: The ``tool_choice`` forms that were accepted and made the
            model call a tool (``"auto"``, ``"required"``, ``"named"``).
        reasoning_form: How reasoning arrived: ``"field"`` (``reasoning_content`` or
            ``reasoning``), ``"tags"`` (``<think>`` in the text), or ``None``.
        catalog_entry: The model's entry in the server's model list, if found.
    """

    model: str
    base_url: str
    profile: ModelProfile
    checks: tuple[ProbeCheck, ...]
    tool_choice_forms: tuple[str, ...] = ()
    reasoning_form: ReasoningForm | None = None
    catalog_entry: NebulaModel | None = field(default=None, repr=False)

    @property
    def requests(self) -> int:
        """Requests sent (chat checks and the model list)."""
        return len(self.checks)

    @property
    def input_tokens(self) -> int:
        """Prompt tokens over every request."""
        return sum(check.input_tokens for check in self.checks)

    @property
    def output_tokens(self) -> int:
        """Completion tokens over every request."""
        return sum(check.output_tokens for check in self.checks)

    @property
    def total_tokens(self) -> int:
        """All tokens the probe cost."""
        return self.input_tokens + self.output_tokens

    def describe(self) -> str:
        """The report as the command line prints it: checks, cost, then the profile."""
        lines = [f"# {self.model} at {self.base_url}"]
        for check in self.checks:
            verdict = "yes" if check.passed else "no "
            lines.append(f"#   {verdict} {check.name}: {check.detail}")
        forms = ", ".join(self.tool_choice_forms) or "none"
        lines.append(f"# tool_choice forms that called a tool: {forms}")
        lines.append(f"# reasoning form: {self.reasoning_form or 'none seen'}")
        lines.append(
            f"# cost: {self.requests} requests, {self.total_tokens} tokens "
            f"({self.input_tokens} in, {self.output_tokens} out)"
        )
        lines.append(pprint.pformat(dict(self.profile), sort_dicts=False))
        return "\n".join(lines)


# -- the checks: what each sends and how its answer reads (shared by sync and async) --

Build = Callable[[ChatNebula], tuple[Runnable[LanguageModelInput, BaseMessage], Any]]
Judge = Callable[[AIMessage], tuple[bool, str]]


@dataclass(frozen=True)
class Check:
    name: str
    build: Build
    judge: Judge

    def answered(self, reply: BaseMessage) -> ProbeCheck:
        message = reply if isinstance(reply, AIMessage) else AIMessage(content=reply.content)
        passed, detail = self.judge(message)
        usage = message.usage_metadata
        return ProbeCheck(
            self.name,
            accepted=True,
            passed=passed,
            detail=detail,
            input_tokens=usage["input_tokens"] if usage else 0,
            output_tokens=usage["output_tokens"] if usage else 0,
        )

    def refused(self, error: Exception) -> ProbeCheck:
        if isinstance(error, NebulaError):
            status = f"{error.status_code} " if error.status_code is not None else ""
            return ProbeCheck(self.name, False, False, f"refused: {status}{error.message}")
        # The server answered 2xx, but not in a form the check could use.
        words = str(error).splitlines()[0][:200]
        return ProbeCheck(self.name, True, False, f"unusable answer: {words}")


def _called_a_tool(message: AIMessage) -> tuple[bool, str]:
    names = [call["name"] for call in message.tool_calls]
    if any(name in _TOOL_NAMES for name in names):
        return True, f"called {', '.join(names)}"
    if message.invalid_tool_calls:
        return False, "a tool call that could not be parsed"
    return False, f"answered in text: {message.text[:60]!r}"


def _parsed_the_schema(message: AIMessage) -> tuple[bool, str]:
    try:
        value = json.loads(message.text)
    except ValueError:
        return False, f"not JSON: {message.text[:60]!r}"
    if isinstance(value, dict) and isinstance(value.get("answer"), int):
        return True, f"parsed {json.dumps(value)}"
    return False, f"JSON, not the schema's object: {message.text[:60]!r}"


def _answered_the_image(message: AIMessage) -> tuple[bool, str]:
    return True, f"answered {message.text[:40]!r}"


def reasoning_form_of(message: AIMessage) -> ReasoningForm | None:
    kwargs = message.additional_kwargs
    if kwargs.get("reasoning_content") or kwargs.get("reasoning"):
        return "field"
    if "<think>" in message.text or "</think>" in message.text:
        return "tags"
    return None


def _showed_reasoning(message: AIMessage) -> tuple[bool, str]:
    form = reasoning_form_of(message)
    if form == "field":
        return True, "reasoning in a reasoning_content/reasoning field"
    if form == "tags":
        return True, "reasoning in <think> tags in the text"
    return False, f"no reasoning: {message.text[:60]!r}"


def _tools(choice: str, label: str) -> Check:
    def build(chat: ChatNebula) -> tuple[Runnable[LanguageModelInput, BaseMessage], Any]:
        return chat.bind_tools(_TOOLS, tool_choice=choice), _TOOL_PROMPT

    return Check(f"tool_choice={label}", build, _called_a_tool)


def _json_schema(chat: ChatNebula) -> tuple[Runnable[LanguageModelInput, BaseMessage], Any]:
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": _ANSWER_SCHEMA, "strict": True},
    }
    return chat.bind(response_format=response_format), _JSON_PROMPT


def _image(url: str) -> Build:
    def build(chat: ChatNebula) -> tuple[Runnable[LanguageModelInput, BaseMessage], Any]:
        return chat, _image_message(url)

    return build


def _reasoning(chat: ChatNebula) -> tuple[Runnable[LanguageModelInput, BaseMessage], Any]:
    # Read as sent: ChatNebula would otherwise move <think> text into a field itself.
    return chat.model_copy(update={"reasoning_parser": "none"}), _REASONING_PROMPT


def plan_checks(groups: Collection[CheckGroup], image_url: str | None) -> list[Check]:
    checks: list[Check] = []
    if "tools" in groups:
        checks += [
            _tools("auto", "auto"),
            _tools("required", "required"),
            _tools("get_weather", "named"),
        ]
    if "json_schema" in groups:
        checks.append(Check("response_format=json_schema", _json_schema, _parsed_the_schema))
    if "image" in groups:
        data_url = "data:image/png;base64," + base64.b64encode(tiny_png()).decode()
        checks.append(Check("image (data URL)", _image(data_url), _answered_the_image))
        if image_url is not None:
            checks.append(Check("image (http URL)", _image(image_url), _answered_the_image))
    if "reasoning" in groups:
        checks.append(Check("reasoning", _reasoning, _showed_reasoning))
    return checks
