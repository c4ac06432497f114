"""Time to the first visible token of a reasoning model's stream, per reply shape.

A local server streams replies at a fixed pace (one token every PACE seconds, like a
model generating), in the shapes reasoning models arrive in. For each shape this
prints when the first reasoning text and the first answer text reach a consumer of
``ChatNebula.stream``: what a streaming UI shows and when.

    uv run python benchmarks/first_token.py [--pace 0.02]

Run it against another checkout (``PYTHONPATH=/path/to/checkout``) to compare versions.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from langchain_nebula import ChatNebula

REASONING = [f"step{i} " for i in range(40)]
ANSWER = [f"word{i} " for i in range(20)]
SHAPES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    # name: (model id, [(delta field, text), ...])
    "R1, reasoning field": (
        "deepseek-ai/DeepSeek-R1",
        [("reasoning_content", t) for t in REASONING] + [("content", t) for t in ANSWER],
    ),
    "R1, opening <think> sent": (
        "deepseek-ai/DeepSeek-R1",
        [("content", "<think>")]
        + [("content", t) for t in REASONING]
        + [("content", "</think>")]
        + [("content", t) for t in ANSWER],
    ),
    "R1, template opened <think>": (
        "deepseek-ai/DeepSeek-R1",
        [("content", t) for t in REASONING]
        + [("content", "</think>")]
        + [("content", t) for t in ANSWER],
    ),
    "R1 id, reply without thinking": (
        "deepseek-ai/DeepSeek-R1",
        [("content", t) for t in ANSWER],
    ),
    "Llama, plain answer": (
        "meta-llama/Llama-3.3-70B-Instruct",
        [("content", t) for t in ANSWER],
    ),
}


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def serve(pace: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            model, deltas = SHAPES[body["messages"][-1]["content"]]
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            base = {"id": "chatcmpl-1", "model": model, "object": "chat.completion.chunk"}
            events = [_event({**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]})]
            events += [
                _event({**base, "choices": [{"index": 0, "delta": {key: text}}]})
                for key, text in deltas
            ]
            finish = {"index": 0, "delta": {}, "finish_reason": "stop"}
            events += [_event({**base, "choices": [finish]}), b"data: [DONE]\n\n"]
            for event in events:
                time.sleep(pace)  # the model's generation pace, not synchronisation
                self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def measure(base_url: str, shape: str) -> tuple[float | None, float | None, float]:
    model = ChatNebula(base_url=base_url, api_key=None, model=SHAPES[shape][0])
    first_reasoning = first_answer = None
    started = time.monotonic()
    for chunk in model.stream(shape):
        now = time.monotonic() - started
        if first_reasoning is None and chunk.additional_kwargs.get("reasoning_content"):
            first_reasoning = now
        if first_answer is None and chunk.text:
            first_answer = now
    return first_reasoning, first_answer, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pace", type=float, default=0.02, help="seconds per token")
    args = parser.parse_args()
    server = serve(args.pace)
    host, port = server.server_address[:2]
    base_url = f"http://{host}:{port}/v1"

    def shown(value: float | None) -> str:
        return "never" if value is None else f"{value * 1000:.0f} ms"

    measure(base_url, "Llama, plain answer")  # warm up: imports, first connection
    print(f"pace: {args.pace * 1000:.0f} ms per token")
    print("| reply | first reasoning text | first answer text | whole stream |")
    print("|---|--:|--:|--:|")
    for shape in SHAPES:
        reasoning, answer, total = measure(base_url, shape)
        print(f"| {shape} | {shown(reasoning)} | {shown(answer)} | {shown(total)} |")
    server.shutdown()


if __name__ == "__main__":
    main()
