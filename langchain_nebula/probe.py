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
import sys
from collections.abc import Collection, Sequence
from types import EllipsisType
from typing import Any, TypedDict, cast
from urllib.parse import urlsplit

from langchain_core.language_models import ModelProfile
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import SecretStr
from typing_extensions import Unpack

from langchain_nebula._probe_checks import (
    REFUSALS,
    Check,
    CheckGroup,
    ProbeCheck,
    ProbeReport,
    ReasoningForm,
    plan_checks,
    reasoning_form_of,
    tiny_png,
)
from langchain_nebula._provider import DEFAULT_BASE_URL, NEBULA_HOSTS
from langchain_nebula.catalog import NebulaModel, alist_models, list_models
from langchain_nebula.chat_models import ChatNebula
from langchain_nebula.errors import (
    NebulaError,
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

ALL_CHECKS: tuple[CheckGroup, ...] = ("tools", "json_schema", "image", "reasoning", "context")

DEFAULT_MAX_TOKENS = 48
"""The answer cap of each probe request: enough for a tool call or a small JSON object."""


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
        self.plan = plan_checks(groups, options.get("image_url"))
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

    def answered(self, check: Check, reply: BaseMessage) -> None:
        self.results.append(check.answered(reply))
        if check.name == "reasoning" and isinstance(reply, AIMessage):
            self.reasoning_form = reasoning_form_of(reply)

    def refused(self, check: Check, error: Exception) -> None:
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
        except REFUSALS as error:
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
        except REFUSALS as error:
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
