"""Finds out what an OpenAI-compatible deployment of a model can do, by asking it.

``probe(model, base_url=...)`` sends a few cheap requests through ``ChatNebula`` itself
and returns the ``ModelProfile`` they showed, ready to pass as ``ChatNebula(profile=...)``.
Each check is one request with a small ``max_tokens``:

- **tools**: two tools bound, with ``tool_choice`` ``"auto"``, ``"required"`` and a
  named tool (three requests): was each accepted, and did the reply call a tool?
  ``tool_calling`` is whether any did; ``tool_choice`` whether a forced form did.
- **json_schema**: ``response_format`` with a small JSON schema: accepted, and the reply
  parses as the object asked for (``structured_output``).
- **image**: a generated 8x8 PNG as a ``data:`` URL (``image_inputs``); with
  ``image_url=`` also that URL (``image_url_inputs``). A server that refuses images
  answers 400 (llama.cpp) or a 500 saying they are not supported (LiteLLM): ``False``.
- **reasoning**: a plain question, the reply read as sent: a ``reasoning_content`` or
  ``reasoning`` field, or ``<think>`` tags in the text, mean ``reasoning_output``.
- **context**: the server's model list (``GET {base_url}/models``; Nebula's catalog for
  Nebula's own host) gives ``max_input_tokens`` and ``max_output_tokens`` where it
  lists them. No tokens.

A check the server refuses (``NebulaBadRequestError``, a ``NebulaServerError`` after
the retries, an answer that cannot be read) counts as *no*. A failure that says nothing
about the model (no connection, a rejected key, an unknown model, a rate limit, a
timeout) is raised: a probe that could not ask proves nothing.

Command line::

    python -m langchain_nebula.probe SmolLM2-135M-Instruct --base-url http://127.0.0.1:8080/v1

prints each check, the tokens the probe cost, and the profile as a Python dict.
"""

from __future__ import annotations

import argparse
import base64
import json
import pprint
import struct
import sys
import zlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any, Literal, TypedDict, cast
from urllib.parse import urlsplit

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import LanguageModelInput, ModelProfile
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable
from pydantic import SecretStr
from typing_extensions import Unpack

from langchain_nebula._provider import DEFAULT_BASE_URL, NEBULA_HOSTS
from langchain_nebula.catalog import NebulaModel, alist_models, list_models
from langchain_nebula.chat_models import ChatNebula
from langchain_nebula.errors import (
    NebulaBadRequestError,
    NebulaError,
    NebulaServerError,
)

__all__ = [
    "ALL_CHECKS",
    "DEFAULT_MAX_TOKENS",
    "CheckGroup",
    "ProbeCheck",
    "ProbeOptions",
    "ProbeReport",
    "aprobe",
    "aprobe_report",
    "main",
    "probe",
    "probe_report",
    "tiny_png",
]

CheckGroup = Literal["tools", "json_schema", "image", "reasoning", "context"]
"""A group of checks ``probe`` can run (``checks=``)."""
ALL_CHECKS: tuple[CheckGroup, ...] = ("tools", "json_schema", "image", "reasoning", "context")

DEFAULT_MAX_TOKENS = 48
"""The answer cap of each probe request: enough for a tool call or a small JSON object."""

ReasoningForm = Literal["field", "tags"]

# A refusal of the request (or an unusable answer) is the answer "no"; anything else
# (connection, key, unknown model, rate limit, timeout) is raised.
_REFUSALS = (NebulaBadRequestError, NebulaServerError, OutputParserException)
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
class _Check:
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


def _reasoning_form(message: AIMessage) -> ReasoningForm | None:
    kwargs = message.additional_kwargs
    if kwargs.get("reasoning_content") or kwargs.get("reasoning"):
        return "field"
    if "<think>" in message.text or "</think>" in message.text:
        return "tags"
    return None


def _showed_reasoning(message: AIMessage) -> tuple[bool, str]:
    form = _reasoning_form(message)
    if form == "field":
        return True, "reasoning in a reasoning_content/reasoning field"
    if form == "tags":
        return True, "reasoning in <think> tags in the text"
    return False, f"no reasoning: {message.text[:60]!r}"


def _tools(choice: str, label: str) -> _Check:
    def build(chat: ChatNebula) -> tuple[Runnable[LanguageModelInput, BaseMessage], Any]:
        return chat.bind_tools(_TOOLS, tool_choice=choice), _TOOL_PROMPT

    return _Check(f"tool_choice={label}", build, _called_a_tool)


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


def _plan(groups: Collection[CheckGroup], image_url: str | None) -> list[_Check]:
    checks: list[_Check] = []
    if "tools" in groups:
        checks += [
            _tools("auto", "auto"),
            _tools("required", "required"),
            _tools("get_weather", "named"),
        ]
    if "json_schema" in groups:
        checks.append(_Check("response_format=json_schema", _json_schema, _parsed_the_schema))
    if "image" in groups:
        data_url = "data:image/png;base64," + base64.b64encode(tiny_png()).decode()
        checks.append(_Check("image (data URL)", _image(data_url), _answered_the_image))
        if image_url is not None:
            checks.append(_Check("image (http URL)", _image(image_url), _answered_the_image))
    if "reasoning" in groups:
        checks.append(_Check("reasoning", _reasoning, _showed_reasoning))
    return checks


class ProbeOptions(TypedDict, total=False):
    """The keyword arguments of ``probe`` and its siblings (see ``probe_report``)."""

    base_url: str | None
    api_key: str | SecretStr | EllipsisType | None
    checks: Collection[CheckGroup]
    image_url: str | None
    max_tokens: int
    max_retries: int
    timeout: float | None
    model_kwargs: dict[str, Any] | None


class _Run:
    """One probe's plan and findings; the sync and async drivers only do the I/O."""

    def __init__(self, model: str, options: ProbeOptions) -> None:
        settings: dict[str, Any] = {
            "model": model,
            "max_tokens": options.get("max_tokens", DEFAULT_MAX_TOKENS),
            "temperature": 0,
            "max_retries": options.get("max_retries", 1),
            "timeout": options.get("timeout", 120.0),
            "model_kwargs": options.get("model_kwargs") or {},
        }
        if options.get("base_url") is not None:
            settings["base_url"] = options["base_url"]
        api_key = options.get("api_key", ...)
        if api_key is not ...:
            settings["api_key"] = api_key
        self.chat = ChatNebula(**settings)
        groups = options.get("checks", ALL_CHECKS)
        self.plan = _plan(groups, options.get("image_url"))
        self.results: list[ProbeCheck] = []
        self.reasoning_form: ReasoningForm | None = None
        self.entry: NebulaModel | None = None
        self.wants_catalog = "context" in groups
        # Ellipsis keeps the environment key's policy: it goes only where ChatNebula
        # sends it. An explicit key goes to the model list as it went to the chat.
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        base_url = self.chat.base_url.rstrip("/")
        nebula = base_url == DEFAULT_BASE_URL or urlsplit(base_url).hostname in NEBULA_HOSTS
        self.catalog_url = None if nebula else f"{base_url}/models"
        self.catalog_args: dict[str, Any] = {
            "url": self.catalog_url,
            "api_key": key,
            "max_retries": settings["max_retries"],
            "timeout": settings["timeout"],
        }

    def answered(self, check: _Check, reply: BaseMessage) -> None:
        self.results.append(check.answered(reply))
        if check.name == "reasoning" and isinstance(reply, AIMessage):
            self.reasoning_form = _reasoning_form(reply)

    def refused(self, check: _Check, error: Exception) -> None:
        self.results.append(check.refused(error))

    def listed(self, models: Sequence[NebulaModel]) -> None:
        where = self.catalog_url or "Nebula's catalog"
        entry = self.entry = _entry_for(self.chat.model, models)
        if entry is None:
            detail = f"{len(models)} models listed at {where}, none is {self.chat.model!r}"
        else:
            limits = f"context {entry.context_length}, max output {entry.max_completion_tokens}"
            detail = f"listed at {where} as {entry.id!r}: {limits}"
        passed = entry is not None and entry.context_length is not None
        self.results.append(ProbeCheck(_CONTEXT, True, passed, detail))

    def unlisted(self, error: NebulaError) -> None:
        status = f"{error.status_code} " if error.status_code is not None else ""
        where = self.catalog_url or "Nebula's catalog"
        detail = f"no model list at {where}: {status}{error.message}"
        self.results.append(ProbeCheck(_CONTEXT, False, False, detail))

    def report(self) -> ProbeReport:
        found = {check.name: check.passed for check in self.results}
        forms = tuple(f for f in ("auto", "required", "named") if found.get(f"tool_choice={f}"))
        profile: ModelProfile = {}
        if "tool_choice=auto" in found:
            profile["tool_calling"] = bool(forms)
            profile["tool_choice"] = "required" in forms or "named" in forms
        for key, name in _PROFILE_KEYS:
            if name in found:
                profile[key] = found[name]  # type: ignore[literal-required]
        if self.entry is not None and self.entry.context_length:
            profile["max_input_tokens"] = self.entry.context_length
        if self.entry is not None and self.entry.max_completion_tokens:
            profile["max_output_tokens"] = self.entry.max_completion_tokens
        return ProbeReport(
            model=self.chat.model,
            base_url=self.chat.base_url,
            profile=profile,
            checks=tuple(self.results),
            tool_choice_forms=forms,
            reasoning_form=self.reasoning_form,
            catalog_entry=self.entry,
        )


_CONTEXT = "context (model list)"
# Profile keys that are exactly one check's verdict.
_PROFILE_KEYS = (
    ("structured_output", "response_format=json_schema"),
    ("image_inputs", "image (data URL)"),
    ("image_url_inputs", "image (http URL)"),
    ("reasoning_output", "reasoning"),
)


def _entry_for(model: str, models: Sequence[NebulaModel]) -> NebulaModel | None:
    """The model's entry: by id or alias; else a server listing one chat model serves it."""
    for entry in models:
        if model in (entry.id, entry.alias):
            return entry
    chat_models = [entry for entry in models if entry.is_chat]
    # llama.cpp and single-model vLLM answer to any id and list the one they serve.
    return chat_models[0] if len(chat_models) == 1 else None


def probe_report(model: str, **options: Unpack[ProbeOptions]) -> ProbeReport:
    """Probes a deployment and reports every check, the profile found and its cost.

    Args:
        model: The model id to probe, as the server knows it.
        **options: Any of:

            - ``base_url``: the API root; default ``NEBULA_BASE_URL`` or Nebula's.
            - ``api_key``: the key; by default ``NEBULA_API_KEY`` (sent only where
              ``ChatNebula`` sends it); ``None`` sends none.
            - ``checks``: which groups to run (default all): ``"tools"`` (three
              requests), ``"json_schema"``, ``"image"``, ``"reasoning"``,
              ``"context"`` (the model list, no tokens).
            - ``image_url``: an ``http(s)`` image URL the server can fetch; one more
              request, for ``image_url_inputs``.
            - ``max_tokens``: the answer cap of each request (default 48).
            - ``max_retries``: retries of transient failures per request (default 1).
            - ``timeout``: seconds per request (default 120).
            - ``model_kwargs``: extra request fields sent with every check.

    Returns:
        The report; ``report.profile`` is the ``ModelProfile``.

    Raises:
        NebulaError: If the server cannot be reached, rejects the key, does not know
            the model, rate-limits or times out: nothing was learnt.

    Example:
        .. code-block:: python

            report = probe_report("SmolLM2-135M-Instruct", base_url="http://127.0.0.1:8080/v1")
            print(report.describe())
    """
    run = _Run(model, options)
    for check in run.plan:
        runnable, prompt = check.build(run.chat)
        try:
            reply = runnable.invoke(prompt)
        except _REFUSALS as error:
            run.refused(check, error)
        else:
            run.answered(check, reply)
    if run.wants_catalog:
        try:
            run.listed(list_models(**run.catalog_args))
        except NebulaError as error:
            run.unlisted(error)
    return run.report()


async def aprobe_report(model: str, **options: Unpack[ProbeOptions]) -> ProbeReport:
    """Async ``probe_report``: the same requests, one after another."""
    run = _Run(model, options)
    for check in run.plan:
        runnable, prompt = check.build(run.chat)
        try:
            reply = await runnable.ainvoke(prompt)
        except _REFUSALS as error:
            run.refused(check, error)
        else:
            run.answered(check, reply)
    if run.wants_catalog:
        try:
            run.listed(await alist_models(**run.catalog_args))
        except NebulaError as error:
            run.unlisted(error)
    return run.report()


def probe(model: str, **options: Unpack[ProbeOptions]) -> ModelProfile:
    """Probes a deployment and returns the ``ModelProfile`` its answers showed.

    Keys set: ``tool_calling``, ``tool_choice`` (tools), ``structured_output``
    (json_schema), ``image_inputs`` (and ``image_url_inputs`` with ``image_url``),
    ``reasoning_output``, and ``max_input_tokens``/``max_output_tokens`` where the
    server's model list states them. A key left out is unknown. The options are
    ``probe_report``'s, which also tells each check and the tokens spent.

    Args:
        model: The model id to probe, as the server knows it.
        **options: ``base_url``, ``api_key``, ``checks``, ``image_url``,
            ``max_tokens``, ``max_retries``, ``timeout``, ``model_kwargs``.

    Returns:
        The profile, for ``ChatNebula(profile=...)``.

    Raises:
        NebulaError: If the server cannot be reached, rejects the key, does not know
            the model, rate-limits or times out.

    Example:
        .. code-block:: python

            profile = probe("SmolLM2-135M-Instruct", base_url="http://127.0.0.1:8080/v1")
            model = ChatNebula(model="SmolLM2-135M-Instruct", profile=profile)
    """
    return probe_report(model, **options).profile


async def aprobe(model: str, **options: Unpack[ProbeOptions]) -> ModelProfile:
    """Async ``probe``."""
    return (await aprobe_report(model, **options)).profile


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m langchain_nebula.probe MODEL [--base-url URL] ...``."""
    parser = argparse.ArgumentParser(
        prog="python -m langchain_nebula.probe",
        description="Probe an OpenAI-compatible deployment and print the profile it showed.",
    )
    parser.add_argument("model", help="the model id, as the server knows it")
    parser.add_argument("--base-url", help="API root; default NEBULA_BASE_URL or Nebula's")
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument(
        "--api-key",
        help="the key; default NEBULA_API_KEY, which goes only to Nebula or NEBULA_BASE_URL's host",
    )
    keys.add_argument("--no-key", action="store_true", help="send no key")
    parser.add_argument("--image-url", help="also check an http(s) image URL")
    parser.add_argument(
        "--max-tokens", type=int, default=DEFAULT_MAX_TOKENS, help="answer cap per request"
    )
    parser.add_argument(
        "--checks", default=",".join(ALL_CHECKS), help=f"a subset of {','.join(ALL_CHECKS)}"
    )
    args = parser.parse_args(argv)
    groups = [name.strip() for name in args.checks.split(",") if name.strip()]
    unknown = sorted(set(groups) - set(ALL_CHECKS))
    if unknown:
        parser.error(f"unknown checks: {', '.join(unknown)}")
    options: ProbeOptions = {
        "base_url": args.base_url,
        "checks": cast("list[CheckGroup]", groups),
        "image_url": args.image_url,
        "max_tokens": args.max_tokens,
    }
    if args.no_key or args.api_key:
        options["api_key"] = None if args.no_key else args.api_key
    try:
        report = probe_report(args.model, **options)
    except NebulaError as error:
        print(f"error: the probe could not ask: {error}", file=sys.stderr)  # noqa: T201
        return 1
    print(report.describe())  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
