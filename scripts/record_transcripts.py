"""Records exact wire transcripts from real servers into tests/fixtures/transcripts/.

    uv run python scripts/record_transcripts.py [--target litellm|llamacpp] [--only NAME ...]

Starts llama.cpp (``LocalServer``: SmolLM2-135M with the tool template, as the tests
use it), a second llama.cpp with embeddings on, a third with the generated vision
projector (``LocalServer(vision=True)``), an image server on 127.0.0.1 for image URLs,
and a real LiteLLM proxy configured to look like Nebula in front of them
(``tests/litellm_proxy.py``), then sends each named
scenario to each target and writes ``<target>/<scenario>.json``: the request (method,
path, headers, JSON body) and the response exactly as received (status, headers in
order as ``"name: value"``, body text; a stream's body as its lines, which join with
"\\n" to the exact body). Requests ask for ``Accept-Encoding: identity`` so the body
is the wire's bytes.

Replies are made repeatable with temperature 0, a fixed seed and small ``max_tokens``.
Reasoning scenarios add llama.cpp's ``grammar`` field (forwarded by LiteLLM) so the
135M model answers in DeepSeek-R1's shape, ``<think>…</think>answer``, every time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests package holds the LiteLLM runner

from langchain_nebula.local import MODEL_FILE, PROJECTOR_FILE, LocalServer  # noqa: E402
from tests.images import SVG, data_url, image_host, png, png_claiming, truncated_png  # noqa: E402
from tests.litellm_proxy import (  # noqa: E402
    BACKEND_DOWN_MODEL,
    CHAT_ALIASES,
    EMBEDDINGS_MODEL,
    MASTER_KEY,
    RATE_LIMITED_KEY,
    REASONING_MODEL,
    REQUIREMENTS,
    RPM_LIMITED_MODEL,
    TEXT_MODEL,
    VISION_MISROUTED_MODEL,
    VISION_MODEL,
    LiteLLMProxy,
    r1_grammar,
)

OUT = ROOT / "tests" / "fixtures" / "transcripts"
LOCAL_MODEL = "SmolLM2-135M-Instruct"
TARGETS = ("litellm", "llamacpp")
MASTER = "master"  # placeholder: the master key on LiteLLM, no key on llama.cpp

SAMPLING = {"temperature": 0, "seed": 42}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name."}},
            "required": ["city"],
        },
    },
}
COUNTRY_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "Country",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "capital": {"type": "string"}},
            "required": ["name", "capital"],
            "additionalProperties": False,
        },
    },
}
# A 1x1 PNG.
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
    "z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
# About 5,000 tokens: above the text alias's published 4,096, within the backend's 8,192.
OVER_PUBLISHED_LIMIT = "The river flows past the old mill. " * 700
# About 10,000 tokens: above the backend's 8,192, within the R1 alias's published 32,768.
OVER_BACKEND_CONTEXT = "river lake " * 5000
# About 600 tokens: above llama.cpp's 512-token physical batch for embeddings.
OVER_EMBEDDING_BATCH = "river lake " * 300


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def chat(model: str, text: str, max_tokens: int = 16, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": user(text), "max_tokens": max_tokens, **SAMPLING, **extra}


def streamed(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "stream": True, "stream_options": {"include_usage": True}}


@dataclass(frozen=True)
class Exchange:
    body: dict[str, Any] | None
    path: str = "/v1/chat/completions"
    method: str = "POST"
    key: str | None = MASTER
    vision: bool = False  # llama.cpp: the server with the projector (LiteLLM: by alias)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    exchanges: tuple[Exchange, ...]
    targets: tuple[str, ...] = TARGETS
    proxy: str = "fast"  # "fast": retries 0; "default_retries": LiteLLM's own defaults


def one(name: str, description: str, exchange: Exchange, **options: Any) -> Scenario:
    return Scenario(name, description, (exchange,), **options)


TEXT = chat(TEXT_MODEL, "Name a primary colour.")
REASONING = chat(REASONING_MODEL, "Say hello.", 60, grammar=r1_grammar())
REASONING_NO_OPEN = chat(REASONING_MODEL, "Say hello.", 60, grammar=r1_grammar(open_tag=False))
TOOL_CALL = chat(
    TEXT_MODEL,
    "What is the weather in Paris?",
    64,
    tools=[WEATHER_TOOL],
    tool_choice={"type": "function", "function": {"name": "get_weather"}},
)
JSON_SCHEMA = chat(
    TEXT_MODEL, "Give France and its capital as JSON.", 48, response_format=COUNTRY_SCHEMA
)
# Replaced by the image server's address (http://127.0.0.1:PORT) when sent.
IMAGE_HOST = "http://image-host.invalid"


def with_image(model: str, url: str, text: str = "What is in this image?") -> dict[str, Any]:
    content = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}]
    return {"model": model, "messages": [{"role": "user", "content": content}]} | {
        "max_tokens": 8,
        **SAMPLING,
    }


IMAGE = with_image(VISION_MISROUTED_MODEL, PIXEL)
PICTURE = data_url(png())
VISION = with_image(VISION_MODEL, PICTURE)
VISION_TEXT_ONLY = chat(VISION_MODEL, "What is in this image?", 8)
EMBED = "/v1/embeddings"


def vision(body: dict[str, Any]) -> Exchange:
    return Exchange(body, vision=True)


SCENARIOS: tuple[Scenario, ...] = (
    one("text_invoke", "A plain reply, cut by max_tokens.", Exchange(TEXT)),
    one("text_stream", "The same, streamed with include_usage.", Exchange(streamed(TEXT))),
    one(
        "text_stream_without_usage",
        "Streamed without stream_options.",
        Exchange({**TEXT, "stream": True}),
    ),
    one(
        "logprobs_invoke",
        "logprobs with top_logprobs 2.",
        Exchange(chat(TEXT_MODEL, "Name a primary colour.", 4, logprobs=True, top_logprobs=2)),
    ),
    one(
        "reasoning_invoke",
        "R1 alias, reply shaped <think>\\n…\\n</think>\\n\\nanswer (forced by a grammar).",
        Exchange(REASONING),
    ),
    one("reasoning_stream", "The same, streamed.", Exchange(streamed(REASONING))),
    one(
        "reasoning_no_open_tag_invoke",
        "R1 alias, reply shaped …\\n</think>\\n\\nanswer: the template opened <think>.",
        Exchange(REASONING_NO_OPEN),
    ),
    one(
        "reasoning_no_open_tag_stream",
        "The same, streamed.",
        Exchange(streamed(REASONING_NO_OPEN)),
    ),
    one(
        "reasoning_openai_provider_invoke",
        "<think> tags from the text alias, routed with LiteLLM's openai/ provider.",
        Exchange({**REASONING, "model": TEXT_MODEL}),
        targets=("litellm",),
    ),
    one("tool_call_invoke", "A named tool_choice.", Exchange(TOOL_CALL)),
    one("tool_call_stream", "The same, streamed.", Exchange(streamed(TOOL_CALL))),
    one("json_schema_invoke", "response_format json_schema.", Exchange(JSON_SCHEMA)),
    one("json_schema_stream", "The same, streamed.", Exchange(streamed(JSON_SCHEMA))),
    one(
        "unknown_model",
        "A model id the server does not serve.",
        Exchange(chat("nebula-test/no-such-model", "Hi", 4)),
    ),
    one(
        "unknown_model_stream",
        "The same, asked for as a stream.",
        Exchange(streamed(chat("nebula-test/no-such-model", "Hi", 4))),
    ),
    one(
        "context_window_precall",
        "A prompt above the alias's published max_input_tokens: LiteLLM's own check.",
        Exchange(chat(TEXT_MODEL, OVER_PUBLISHED_LIMIT, 4)),
        targets=("litellm",),
    ),
    one(
        "context_overflow_backend",
        "A prompt above the backend's context but within the published limit.",
        Exchange(chat(REASONING_MODEL, OVER_BACKEND_CONTEXT, 4)),
    ),
    one(
        "context_overflow_backend_stream",
        "The same, asked for as a stream.",
        Exchange(streamed(chat(REASONING_MODEL, OVER_BACKEND_CONTEXT, 4))),
    ),
    one("vision_invoke", "A 64x48 PNG data URL to the vision server.", vision(VISION)),
    one("vision_stream", "The same, streamed with include_usage.", vision(streamed(VISION))),
    Scenario(
        "vision_counted",
        "The same prompt without, then with, the image: the image's tokens in usage.",
        (vision(VISION_TEXT_ONLY), vision(VISION)),
    ),
    one(
        "vision_url_invoke",
        "An http:// image URL on 127.0.0.1: llama.cpp fetches it, LiteLLM passes it on.",
        vision(with_image(VISION_MODEL, f"{IMAGE_HOST}/picture.png")),
    ),
    one(
        "vision_url_not_found",
        "An http:// image URL that answers 404.",
        vision(with_image(VISION_MODEL, f"{IMAGE_HOST}/missing.png")),
    ),
    one(
        "vision_corrupt_image",
        "A PNG cut in half.",
        vision(with_image(VISION_MODEL, data_url(truncated_png()))),
    ),
    one(
        "vision_corrupt_image_stream",
        "The same, asked for as a stream.",
        vision(streamed(with_image(VISION_MODEL, data_url(truncated_png())))),
    ),
    one(
        "vision_unsupported_format",
        "An SVG image (stb_image reads no SVG).",
        vision(with_image(VISION_MODEL, data_url(SVG, "image/svg+xml"))),
    ),
    one(
        "vision_oversized_image",
        "A PNG announcing 20000x20000 pixels, above the decoder's 2**30-byte limit.",
        vision(with_image(VISION_MODEL, data_url(png_claiming(20_000, 20_000)))),
    ),
    one(
        "image_to_text_alias",
        "An image to the text alias, which LiteLLM knows has no vision: passed on anyway.",
        Exchange(with_image(TEXT_MODEL, PICTURE)),
        targets=("litellm",),
    ),
    one(
        "image_to_text_backend",
        "An image sent to a vision id whose backend is text-only.",
        Exchange(IMAGE),
    ),
    one(
        "image_to_text_backend_stream",
        "The same, asked for as a stream: does the error come as a status or an event?",
        Exchange(streamed(IMAGE)),
    ),
    one(
        "image_to_text_backend_default_retries",
        "The same through a proxy with LiteLLM's default retry settings.",
        Exchange(IMAGE),
        targets=("litellm",),
        proxy="default_retries",
    ),
    one(
        "backend_down",
        "An alias whose backend refuses connections.",
        Exchange(chat(BACKEND_DOWN_MODEL, "Hi", 4)),
        targets=("litellm",),
    ),
    one(
        "backend_down_stream",
        "The same, asked for as a stream.",
        Exchange(streamed(chat(BACKEND_DOWN_MODEL, "Hi", 4))),
        targets=("litellm",),
    ),
    one(
        "backend_down_default_retries",
        "The same through a proxy with LiteLLM's default retry settings.",
        Exchange(chat(BACKEND_DOWN_MODEL, "Hi", 4)),
        targets=("litellm",),
        proxy="default_retries",
    ),
    one(
        "bad_key",
        "A key the proxy does not know.",
        Exchange(chat(TEXT_MODEL, "Hi", 4), key="sk-nebula-test-wrong-key"),
        targets=("litellm",),
    ),
    one(
        "bad_key_stream",
        "The same, asked for as a stream.",
        Exchange(streamed(chat(TEXT_MODEL, "Hi", 4)), key="sk-nebula-test-wrong-key"),
        targets=("litellm",),
    ),
    one(
        "missing_key",
        "No Authorization header.",
        Exchange(chat(TEXT_MODEL, "Hi", 4), key=None),
        targets=("litellm",),
    ),
    one(
        "rate_limited_key",
        "A key whose per-key limit is 0 requests a minute: LiteLLM's own limiter.",
        Exchange(chat(TEXT_MODEL, "Hi", 4), key=RATE_LIMITED_KEY),
        targets=("litellm",),
    ),
    Scenario(
        "rpm_limit_alias",
        "An alias limited to 1 request a minute: the first passes, the second is refused.",
        (Exchange(chat(RPM_LIMITED_MODEL, "Hi", 4)), Exchange(chat(RPM_LIMITED_MODEL, "Hi", 4))),
        targets=("litellm",),
    ),
    one(
        "bad_response_format",
        "response_format with an unknown type.",
        Exchange(chat(TEXT_MODEL, "Hi", 4, response_format={"type": "not-a-format"})),
    ),
    one(
        "tool_choice_without_tools",
        "tool_choice 'required' with no tools (vLLM answers 400).",
        Exchange(chat(TEXT_MODEL, "Hi", 4, tool_choice="required")),
    ),
    one(
        "stream_options_without_stream",
        "stream_options on a non-streamed request (vLLM answers 400).",
        Exchange(chat(TEXT_MODEL, "Hi", 4, stream_options={"include_usage": True})),
    ),
    one("models_list", "GET /v1/models.", Exchange(None, "/v1/models", "GET")),
    one(
        "embeddings_float",
        "Two inputs, float vectors.",
        Exchange({"model": EMBEDDINGS_MODEL, "input": ["hello world", "goodbye"]}, EMBED),
    ),
    one(
        "embeddings_base64",
        "One input, base64 vectors.",
        Exchange(
            {"model": EMBEDDINGS_MODEL, "input": ["hello world"], "encoding_format": "base64"},
            EMBED,
        ),
    ),
    one(
        "embeddings_input_too_long",
        "An input longer than llama.cpp's embedding batch.",
        Exchange({"model": EMBEDDINGS_MODEL, "input": [OVER_EMBEDDING_BATCH]}, EMBED),
    ),
)


@dataclass
class Target:
    name: str
    chat_url: str  # server root, without /v1
    embeddings_url: str
    vision_url: str
    image_host: str
    translate_model: Callable[[str], str] = field(default=lambda model: model)
    key_header: bool = True


def _for_target(target: Target, exchange: Exchange) -> tuple[str, dict[str, str], Any]:
    url = target.embeddings_url if exchange.path == EMBED else target.chat_url
    if exchange.vision:
        url = target.vision_url
    headers = {"Accept-Encoding": "identity", "User-Agent": "langchain-nebula-transcripts"}
    key = MASTER_KEY if exchange.key == MASTER else exchange.key
    if target.key_header and key is not None:
        headers["Authorization"] = f"Bearer {key}"
    body = exchange.body
    if body is not None and "model" in body:
        body = {**body, "model": target.translate_model(body["model"])}
    if body is not None:
        body = json.loads(json.dumps(body).replace(IMAGE_HOST, target.image_host))
    return url + exchange.path, headers, body


def _record(client: httpx.Client, target: Target, exchange: Exchange) -> dict[str, Any]:
    url, headers, body = _for_target(target, exchange)
    request = client.build_request(exchange.method, url, headers=headers, json=body)
    began = time.monotonic()
    response = client.send(request, stream=True)
    try:
        raw = b"".join(response.iter_raw())
    finally:
        response.close()
    elapsed = round(time.monotonic() - began, 3)
    text = raw.decode("utf-8")  # every server here answers UTF-8 JSON or SSE
    is_stream = response.headers.get("content-type", "").startswith("text/event-stream")
    recorded_response: dict[str, Any] = {
        "status": response.status_code,
        "http_version": response.http_version,
        "headers": [f"{name.decode()}: {value.decode()}" for name, value in response.headers.raw],
    }
    if is_stream:
        recorded_response["body_lines"] = text.split("\n")
    else:
        recorded_response["body"] = text
    return {
        "request": {
            "method": exchange.method,
            "path": exchange.path,
            "headers": headers,
            "json": body,
        },
        "response": recorded_response,
        "elapsed_seconds": elapsed,
    }


def _versions() -> dict[str, str]:
    pinned = next(
        line.split("==")[1].split()[0]
        for line in REQUIREMENTS.read_text().splitlines()
        if line.startswith("litellm==")
    )
    return {
        "litellm": pinned,
        "xllamacpp": metadata.version("xllamacpp"),
        "model": MODEL_FILE,
        "projector": PROJECTOR_FILE,
        "gguf": metadata.version("gguf"),
    }


def _write(target: str, scenario: Scenario, exchanges: list[dict[str, Any]]) -> Path:
    path = OUT / target / f"{scenario.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "target": target,
        "scenario": scenario.name,
        "description": scenario.description,
        "recorded_with": _versions(),
        "exchanges": exchanges,
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return path


def _selected(names: list[str] | None, targets: list[str]) -> Iterator[tuple[str, Scenario]]:
    known = {scenario.name for scenario in SCENARIOS}
    unknown = set(names or ()) - known
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}")
    for scenario in SCENARIOS:
        if names and scenario.name not in names:
            continue
        for target in scenario.targets:
            if target in targets:
                yield target, scenario


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", choices=TARGETS, action="append")
    parser.add_argument("--only", action="append", metavar="SCENARIO")
    args = parser.parse_args(argv)
    work = list(_selected(args.only, args.target or list(TARGETS)))
    proxies_needed = {s.proxy for t, s in work if t == "litellm"}
    with ExitStack() as stack, httpx.Client(timeout=httpx.Timeout(600, connect=10)) as client:
        began = time.monotonic()
        chat_server = stack.enter_context(LocalServer())
        embeddings_server = stack.enter_context(LocalServer(tools=False, embeddings=True))
        vision_server = stack.enter_context(LocalServer(vision=True))
        print(f"llama.cpp servers up in {time.monotonic() - began:.1f} s")
        images = stack.enter_context(image_host({"/picture.png": ("image/png", png())}))
        chat_root = chat_server.base_url.removesuffix("/v1")
        embeddings_root = embeddings_server.base_url.removesuffix("/v1")
        vision_root = vision_server.base_url.removesuffix("/v1")
        targets: dict[tuple[str, str], Target] = {}
        targets["llamacpp", "fast"] = Target(
            "llamacpp",
            chat_root,
            embeddings_root,
            vision_root,
            images.url,
            translate_model=lambda m: LOCAL_MODEL if m in (*CHAT_ALIASES, EMBEDDINGS_MODEL) else m,
            key_header=False,
        )
        for kind in sorted(proxies_needed):
            retries = 0 if kind == "fast" else None
            proxy = stack.enter_context(
                LiteLLMProxy(
                    chat_server.base_url,
                    embeddings_server.base_url,
                    vision_server.base_url,
                    retries=retries,
                )
            )
            print(
                f"LiteLLM proxy ({kind}) up: install {proxy.install_seconds:.1f} s, "
                f"start {proxy.startup_seconds:.1f} s"
            )
            targets["litellm", kind] = Target(
                "litellm", proxy.url, proxy.url, proxy.url, images.url
            )
        for target_name, scenario in work:
            target = targets[target_name, scenario.proxy if target_name == "litellm" else "fast"]
            exchanges = [_record(client, target, exchange) for exchange in scenario.exchanges]
            path = _write(target_name, scenario, exchanges)
            statuses = ", ".join(
                f"{e['response']['status']} in {e['elapsed_seconds']:.1f} s" for e in exchanges
            )
            print(f"{path.relative_to(ROOT)}: {statuses}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
