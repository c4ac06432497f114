"""JSON decoders on the payloads ChatNebula parses: per-call nanoseconds.

Decoders: the stdlib (``json.loads`` on bytes, and what ``_streaming.py`` does: a
pre-built ``JSONDecoder().decode`` on ``bytes.decode()``), ``orjson.loads`` and
``msgspec.json.decode`` (plus a pre-built ``msgspec.json.Decoder``). Payloads are real
shapes: a vLLM/LiteLLM ``chat.completion.chunk`` with a short text delta, the usage
chunk (empty ``choices``), a tool-call delta chunk, and a whole non-stream
``chat.completion``. Every decoder must return an equal object. Samples of each
(decoder, payload) pair are interleaved; the figure is the median. Run::

    uv run --locked --group bench --with msgspec==0.22.0 python benchmarks/json_decoders.py

(``orjson`` is already in the lock, through langsmith; ``msgspec`` is not.)
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

# A vLLM 0.x text delta, as LiteLLM's proxy relays it (system_fingerprint, stop_reason).
TEXT_CHUNK = (
    b'{"id":"chatcmpl-5f2b8d0e3a9c4e71b6d2a8f4c1e9b3d7","object":"chat.completion.chunk",'
    b'"created":1763900000,"model":"meta-llama/Llama-3.3-70B-Instruct",'
    b'"system_fingerprint":null,"choices":[{"index":0,"delta":{"content":" the"},'
    b'"logprobs":null,"finish_reason":null,"stop_reason":null}]}'
)
USAGE_CHUNK = (
    b'{"id":"chatcmpl-5f2b8d0e3a9c4e71b6d2a8f4c1e9b3d7","object":"chat.completion.chunk",'
    b'"created":1763900000,"model":"meta-llama/Llama-3.3-70B-Instruct","choices":[],'
    b'"usage":{"prompt_tokens":1187,"total_tokens":1436,"completion_tokens":249,'
    b'"prompt_tokens_details":{"cached_tokens":1024}}}'
)
TOOL_CHUNK = (
    b'{"id":"chatcmpl-5f2b8d0e3a9c4e71b6d2a8f4c1e9b3d7","object":"chat.completion.chunk",'
    b'"created":1763900000,"model":"meta-llama/Llama-3.3-70B-Instruct","choices":[{"index":0,'
    b'"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"city\\": \\"Par"}}]},'
    b'"logprobs":null,"finish_reason":null}]}'
)
COMPLETION = json.dumps(
    {
        "id": "chatcmpl-5f2b8d0e3a9c4e71b6d2a8f4c1e9b3d7",
        "object": "chat.completion",
        "created": 1763900000,
        "model": "meta-llama/Llama-3.3-70B-Instruct",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": (
                        "Paris is the capital of France. It lies on the Seine, and with "
                        "about 2.1 million inhabitants it is the country's largest city — "
                        "« la Ville Lumière »."
                    ),
                    "tool_calls": [],
                    "reasoning_content": None,
                },
                "logprobs": None,
                "finish_reason": "stop",
                "stop_reason": None,
            }
        ],
        "usage": {
            "prompt_tokens": 27,
            "total_tokens": 71,
            "completion_tokens": 44,
            "prompt_tokens_details": None,
        },
        "prompt_logprobs": None,
        "system_fingerprint": None,
    },
    ensure_ascii=False,
    separators=(",", ":"),
).encode()

PAYLOADS = {
    "text delta chunk": TEXT_CHUNK,
    "usage chunk": USAGE_CHUNK,
    "tool-call delta chunk": TOOL_CHUNK,
    "non-stream completion": COMPLETION,
}


def decoders() -> dict[str, Callable[[bytes], Any]]:
    found: dict[str, Callable[[bytes], Any]] = {}
    found["json.loads(bytes)"] = json.loads
    stdlib_decode = json.JSONDecoder().decode
    found["JSONDecoder().decode(b.decode())"] = lambda data: stdlib_decode(data.decode())
    try:
        import orjson

        found["orjson.loads"] = orjson.loads
    except ImportError:
        print("orjson not installed: skipped", file=sys.stderr)
    try:
        import msgspec

        found["msgspec.json.decode"] = msgspec.json.decode
        found["msgspec.json.Decoder().decode"] = msgspec.json.Decoder().decode
    except ImportError:
        print("msgspec not installed: skipped (use --with msgspec)", file=sys.stderr)
    return found


def measure(decoder: Callable[[bytes], Any], data: bytes, target: float) -> float:
    """Seconds per call, over about ``target`` seconds."""
    timer = timeit.Timer(lambda: decoder(data))
    number = max(1, int(target / max(timer.timeit(200) / 200, 1e-9)))
    return timer.timeit(number) / number


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--target", type=float, default=0.02, help="seconds per sample")
    args = parser.parse_args()
    found = decoders()
    for label, data in PAYLOADS.items():
        reference = json.loads(data)
        for name, decoder in found.items():
            assert decoder(data) == reference, (name, label)
    samples: dict[tuple[str, str], list[float]] = {}
    for round_index in range(args.rounds):
        names = list(found)
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            for label, data in PAYLOADS.items():
                samples.setdefault((name, label), []).append(
                    measure(found[name], data, args.target)
                )
    labels = list(PAYLOADS)
    print(
        f"Medians of {args.rounds} interleaved rounds, ns per call "
        f"(python {sys.version.split()[0]}, orjson {version('orjson')}, "
        f"msgspec {version('msgspec')})\n"
    )
    print("| decoder | " + " | ".join(f"{k} ({len(PAYLOADS[k])} B)" for k in labels) + " |")
    print("| --- |" + " ---: |" * len(labels))
    base = {
        label: statistics.median(samples[("JSONDecoder().decode(b.decode())", label)])
        for label in labels
    }
    for name in found:
        cells = []
        for label in labels:
            value = statistics.median(samples[(name, label)])
            cells.append(f"{value * 1e9:,.0f} ({value / base[label]:.2f}x)")
        print(f"| `{name}` | " + " | ".join(cells) + " |")
    print("\n(x: relative to `JSONDecoder().decode(b.decode())`, what _streaming.py does today)")
    (RESULTS / "json_decoders.json").write_text(
        json.dumps(
            {
                "versions": {
                    "python": sys.version.split()[0],
                    "orjson": version("orjson"),
                    "msgspec": version("msgspec"),
                },
                "samples_s": {f"{n} | {label}": v for (n, label), v in samples.items()},
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
