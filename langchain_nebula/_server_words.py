"""What servers say when they fail: their words, without a proxy's wrapping. Pure.

Error bodies come in many shapes (OpenAI's, vLLM's flat one, FastAPI's ``detail``,
LiteLLM's prefixes and tails around a backend's quoted JSON, a proxy's HTML page);
these functions read the message, the code and the ``Retry-After`` wait out of any of
them. ``langchain_nebula.errors`` turns what they read into typed errors.

Every pattern runs on text already cut to ``MAX_MESSAGE`` characters, and none can
backtrack over it more than once: reading a hostile body costs linear time.
"""

from __future__ import annotations

import ast
import email.utils
import json
import math
import re
import time
from collections.abc import Mapping
from datetime import timezone
from typing import Any

__all__ = [
    "MAX_MESSAGE",
    "MAX_SNIPPET",
    "clean_message",
    "describe",
    "error_object",
    "html_snippet",
    "parse_json_text",
    "retry_after_seconds",
    "status_from_code",
]

MAX_MESSAGE = 2000
MAX_SNIPPET = 300
# LiteLLM wraps the backend's words in its own: a route or class-name prefix, often
# several ("litellm.ContextWindowExceededError: litellm.BadRequestError:
# Hosted_vllmException - <words>"), the backend's JSON error as a string, and notes on
# its retries, fallbacks and routing after them.
_PROXY_PREFIX = re.compile(
    r"^(?:(?:litellm\.)?[A-Za-z_]\w*(?:Error|Exception)(?::|\s+-)\s*"
    r"|litellm\._pre_call_checks:\s*|/[\w./-]*:\s+|Error code: \d{3} - )"
)
_PROXY_TAILS = (
    "\n\nLiteLLM: ",
    "\n\nSet 'context_window_fallback'",
    "\nmodel=",
    " LiteLLM Retried:",
    ", LiteLLM Max Retries:",
    "Received Model Group=",
    " Available Model Group Fallbacks=",
    " Call `/v1/models` to view available models",
)
_TAG = re.compile(r"<[^<>]*>")


def status_from_code(code: Any) -> int | None:
    # LiteLLM sends the status as a string ("401"), vLLM and llama.cpp as an int.
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code if 100 <= code <= 599 else None
    if isinstance(code, str) and code.isascii() and code.isdigit() and len(code) == 3:
        return status_from_code(int(code))
    return None


def clean_message(raw: str) -> str:
    r"""The server's own words: a proxy's prefixes and boilerplate tail removed.

    A backend error LiteLLM embedded as a JSON string is unwrapped to its message.
    The full text stays on the error as ``raw_message``.

    Example:
        .. code-block:: python

            clean_message(
                "litellm.BadRequestError: OpenAIException - bad format\n\n"
                "LiteLLM: model group 'm' failed with the error above."
            )
            # 'bad format'
    """
    text = raw[:MAX_MESSAGE]
    for tail in _PROXY_TAILS:
        cut = text.find(tail)
        if cut > 0:
            text = text[:cut]
    for _ in range(8):  # prefixes nest a few deep; each pass removes one
        stripped = _PROXY_PREFIX.sub("", text.lstrip(), count=1)
        if stripped == text.lstrip():
            break
        text = stripped
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        embedded = _embedded_error(text)
        if isinstance(embedded, Mapping):
            inner = embedded.get("error", embedded)
            message = inner.get("message") if isinstance(inner, Mapping) else inner
            if isinstance(message, str) and message.strip():
                text = message
    return " ".join(text.split()) or " ".join(raw[:MAX_MESSAGE].split())


def _embedded_error(text: str) -> Any:
    """A backend's error object quoted inside a proxy's message: JSON or a Python repr."""
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
            continue
    return None


def html_snippet(text: str) -> str:
    head = text[: MAX_MESSAGE * 8]
    lowered = head.lower()
    start = lowered.find("<title")
    if start >= 0:
        opened = lowered.find(">", start)
        closed = lowered.find("</title", opened)
        if opened >= 0 and closed > opened:
            head = head[opened + 1 : closed]
    return " ".join(_TAG.sub(" ", head).split())[:MAX_SNIPPET]


def error_object(error: Mapping[str, Any]) -> tuple[str | None, str | None, Any]:
    """(message, code-or-type label, raw code) from an error object of any known shape."""
    message = error.get("message")
    if not isinstance(message, str) or not message.strip():
        message = None
    raw_code = error.get("code")
    label = error.get("type")
    if raw_code is not None and status_from_code(raw_code) is None:
        label = raw_code
    return message, str(label) if label not in (None, "None", "") else None, raw_code


def describe(parsed: Any) -> tuple[str | None, str | None, Any]:
    """(server message, code label, raw code) from a parsed error body."""
    if isinstance(parsed, Mapping):
        nested = parsed.get("error")
        if isinstance(nested, Mapping):  # LiteLLM, llama.cpp, OpenAI
            return error_object(nested)
        if isinstance(nested, str) and nested.strip():  # {"error": "..."} from simpler proxies
            return nested, None, None
        if "message" in parsed:  # vLLM's flat ErrorResponse
            return error_object(parsed)
        detail = parsed.get("detail")
        if detail:  # FastAPI
            return detail if isinstance(detail, str) else json.dumps(detail), None, None
    return None, None, None


def parse_json_text(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _finite_seconds(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Reads ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date).

    Values that are not a finite, non-negative wait (``nan``, ``inf``, ``-1``,
    garbage) are treated as absent. A date without a zone is UTC.
    """
    if (millis := headers.get("retry-after-ms")) is not None:
        seconds = _finite_seconds(millis)
        if seconds is not None:
            return seconds / 1000.0
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _finite_seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(when.timestamp() - time.time(), 0.0)
