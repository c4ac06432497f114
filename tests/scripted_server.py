"""A scripted OpenAI-compatible server on 127.0.0.1 for exact wire shapes and faults.

Each test queues replies (``reply_json``, ``reply_stream``, ``reply_raw``); every
request pops the next one, and is recorded (path, headers, JSON body) for assertions.
A request with no reply queued gets a 500 naming the problem, so a test that sends
more requests than it scripted fails loudly.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import math
import operator
import random
import re
import socket
import ssl
import sys
import threading
import uuid
import zlib
from array import array
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer: tuple[str, int] = ("", 0)  # the client's address: one per connection
    # Every header line as sent, repeats included (``headers`` keeps one per name).
    header_lines: list[tuple[str, str]] = field(default_factory=list)

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # Streamed replies: pieces written one by one with chunked encoding.
    pieces: list[bytes] | None = None
    cut_after: int | None = None  # drop the connection after this many pieces
    stall_after: int | None = None  # after this many pieces, wait for `hold`
    hang_up: bool = False  # close the connection without answering
    hold: threading.Event | None = None  # wait for this before answering (or stalling)


def sse(*events: Any, done: bool = True) -> list[bytes]:
    """SSE pieces for ``events`` (dicts become JSON, str/bytes are sent as data)."""
    pieces = []
    for event in events:
        data = event if isinstance(event, bytes | str) else json.dumps(event)
        data = data.encode() if isinstance(data, str) else data
        pieces.append(b"data: " + data + b"\n\n")
    if done:
        pieces.append(b"data: [DONE]\n\n")
    return pieces


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-request (an abandoned stream, a test's timeout) is
        # expected here; anything else is still printed.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ScriptedServer:
    """Args: tls: A server-side context to answer over HTTPS instead (``base_url`` says so)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[Recorded] = []
        self.default: Callable[[Recorded], Reply] | None = None
        self.on_request: Callable[[Recorded], object] | None = None
        self.open_connections = 0
        self.most_open_connections = 0  # the peak number of client connections at once
        self._lock = threading.Lock()
        ThreadingHTTPServer.request_queue_size = 1024  # load tests open 100s at once
        self._httpd = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._scheme = "http" if tls is None else "https"
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{self._scheme}://{host}:{port}/v1"

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- scripting -----------------------------------------------------------------
    def reply_json(
        self, body: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        self.replies.append(
            Reply(
                status,
                {"Content-Type": "application/json", **(headers or {})},
                json.dumps(body).encode(),
            )
        )

    def reply_raw(
        self,
        body: bytes,
        status: int = 200,
        content_type: str = "text/plain",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.replies.append(Reply(status, {"Content-Type": content_type, **(headers or {})}, body))

    def reply_stream(self, pieces: Iterable[bytes], cut_after: int | None = None) -> None:
        self.replies.append(
            Reply(
                200, {"Content-Type": "text/event-stream"}, pieces=list(pieces), cut_after=cut_after
            )
        )

    def arrival(self) -> asyncio.Event:
        """An event of the running loop, set once a request has been recorded."""
        arrived = asyncio.Event()
        loop = asyncio.get_running_loop()
        self.on_request = lambda _: loop.call_soon_threadsafe(arrived.set)
        return arrived

    def _next_reply(self, request: Recorded) -> Reply:
        with self._lock:
            self.requests.append(request)
        # After recording, so a test woken by the hook already sees this request counted.
        if self.on_request is not None:
            self.on_request(request)
        with self._lock:
            if self.replies:
                return self.replies.popleft()
        if self.default is not None:
            return self.default(request)
        body = {"error": {"message": "scripted server: no reply queued", "code": 500}}
        return Reply(500, {"Content-Type": "application/json"}, json.dumps(body).encode())

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; with Nagle's algorithm the
            # client's delayed ACK would stall every reply by ~40 ms.
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server.open_connections += 1
                    server.most_open_connections = max(
                        server.most_open_connections, server.open_connections
                    )

            def finish(self) -> None:
                with server._lock:
                    server.open_connections -= 1
                super().finish()

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                self._answer(self.rfile.read(length))

            def _answer(self, body: bytes) -> None:
                try:
                    self._write_reply(body)
                except (BrokenPipeError, ConnectionResetError):
                    # The client hung up early (an abandoned stream): expected.
                    self.close_connection = True

            def _write_reply(self, body: bytes) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Recorded(
                    self.command,
                    self.path,
                    headers,
                    body,
                    self.client_address,
                    list(self.headers.items()),
                )
                reply = server._next_reply(request)
                if reply.hang_up:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if reply.hold is not None and reply.stall_after is None:
                    reply.hold.wait(30)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.pieces is None:
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for number, piece in enumerate(reply.pieces):
                    if number == reply.stall_after and reply.hold is not None:
                        reply.hold.wait(30)
                    if reply.cut_after is not None and number >= reply.cut_after:
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

        return Handler


def completion(
    content: str | None = "Hello!",
    *,
    model: str = "meta-llama/Llama-3.3-70B-Instruct",
    finish_reason: str = "stop",
    usage: dict[str, Any] | None = None,
    id: str = "chatcmpl-7ba48f119a564f4ea02b6a41386a3e40",
    **message: Any,
) -> dict[str, Any]:
    """A ``chat.completion`` body shaped like Nebula's documented example."""
    return {
        "id": id,
        "created": 1740689977,
        "model": model,
        "object": "chat.completion",
        "system_fingerprint": None,
        "choices": [
            {
                "finish_reason": finish_reason,
                "index": 0,
                "message": {
                    "content": content,
                    "role": "assistant",
                    "tool_calls": None,
                    "function_call": None,
                    **message,
                },
            }
        ],
        "usage": usage
        or {
            "completion_tokens": 91,
            "prompt_tokens": 3604,
            "total_tokens": 3695,
            "completion_tokens_details": None,
            "prompt_tokens_details": None,
        },
        "service_tier": None,
        "prompt_logprobs": None,
    }


def chunk(
    delta: dict[str, Any] | None = None,
    *,
    finish_reason: str | None = None,
    model: str = "meta-llama/Llama-3.3-70B-Instruct",
    **extra: Any,
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` as vLLM sends it (unset keys omitted)."""
    choice: dict[str, Any] = {"index": 0, "delta": delta or {}}
    if finish_reason is not None:
        choice["finish_reason"] = finish_reason
    return {
        "id": "chatcmpl-3812731562554b23a32dd80fbb7d0d09",
        "created": 1740692435,
        "model": model,
        "object": "chat.completion.chunk",
        "choices": [choice],
        **extra,
    }


def usage_chunk(prompt: int = 10, completion: int = 3, **details: Any) -> dict[str, Any]:
    """The final usage chunk sent when ``stream_options.include_usage`` is set."""
    return {
        "id": "chatcmpl-3812731562554b23a32dd80fbb7d0d09",
        "created": 1740692435,
        "model": "meta-llama/Llama-3.3-70B-Instruct",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            **details,
        },
    }


def text_stream(*texts: str, finish_reason: str = "stop", usage: bool = True) -> list[bytes]:
    """A complete vLLM stream: role chunk, one chunk per text, finish, usage, [DONE]."""
    events: list[Any] = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": text}) for text in texts]
    events.append(chunk({}, finish_reason=finish_reason))
    if usage:
        events.append(usage_chunk())
    return sse(*events)


def tool_delta(
    arguments: str | None = None,
    *,
    index: int | None = 0,
    id: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """A stream chunk carrying one tool-call delta, with only the keys given."""
    call: dict[str, Any] = {}
    if index is not None:
        call["index"] = index
    if id is not None:
        call["id"] = id
        call["type"] = "function"
    function: dict[str, Any] = {}
    if name is not None:
        function["name"] = name
    if arguments is not None:
        function["arguments"] = arguments
    call["function"] = function
    return chunk({"tool_calls": [call]})


def example_for(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """A minimal value that validates against a JSON schema (enough for examples)."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return example_for(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return example_for(schema[key][0], defs)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: example_for(sub, defs) for name, sub in properties.items()}
    return {"string": "example", "integer": 1, "number": 1.5, "boolean": True, "array": []}.get(
        kind
    )


_CATALOG = ("meta-llama/Llama-3.3-70B-Instruct", "deepseek-ai/DeepSeek-R1", "Qwen/QwQ-32B")
_EMBEDDING_CATALOG = ("BAAI/bge-large-en-v1.5",)
FAKE_EMBEDDING_DIMENSIONS = 1024  # BAAI/bge-large-en-v1.5's


@functools.lru_cache(maxsize=4096)
def _word_vector(word: str, dimensions: int) -> tuple[float, ...]:
    generator = random.Random(zlib.crc32(word.encode()))
    return tuple(generator.gauss(0.0, 1.0) for _ in range(dimensions))


def fake_embedding(text: str, dimensions: int = FAKE_EMBEDDING_DIMENSIONS) -> list[float]:
    """A deterministic unit vector of float32 values: the sum of its words' random vectors.

    Random vectors of this many dimensions are nearly orthogonal, so texts that share
    words are close and others are not: a retrieval example finds what it should.
    """
    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()) or [""]:
        vector = list(map(operator.add, vector, _word_vector(word, dimensions)))
    norm = math.sqrt(sum(value * value for value in vector))
    return array("f", (value / norm for value in vector)).tolist()


def base64_floats(vector: list[float]) -> str:
    """``vector`` as OpenAI's ``encoding_format: "base64"`` sends it (little-endian float32)."""
    packed = array("f", vector)
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode()


def embeddings_answer(
    vectors: list[list[float]] | list[str],
    *,
    model: str = "BAAI/bge-large-en-v1.5",
    order: Iterable[int] | None = None,
) -> dict[str, Any]:
    """An ``/embeddings`` answer; ``order`` lists the indexes in the order ``data`` holds them."""
    indexes = list(range(len(vectors))) if order is None else list(order)
    data = [{"object": "embedding", "index": i, "embedding": vectors[i]} for i in indexes]
    tokens = 4 * len(vectors)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def embeddings_reply(request: Recorded, *, reverse: bool = False) -> Reply:
    """Answers an ``/embeddings`` request with ``fake_embedding`` vectors, in the asked format.

    ``reverse`` sends ``data`` last index first, as a server may.
    """
    body = request.json
    texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
    dimensions = body.get("dimensions") or FAKE_EMBEDDING_DIMENSIONS
    vectors: list[Any] = [fake_embedding(text, dimensions) for text in texts]
    if body.get("encoding_format") == "base64":
        vectors = [base64_floats(vector) for vector in vectors]
    order = reversed(range(len(vectors))) if reverse else None
    answer = embeddings_answer(vectors, model=body["model"], order=order)
    return Reply(200, {"Content-Type": "application/json"}, json.dumps(answer).encode())


def generic_reply(request: Recorded) -> Reply:
    """Answers any chat request plausibly: tool calls, JSON per schema, or an echo.

    Embedding requests get ``fake_embedding`` vectors. Used where a test runs
    user-facing code (docs, examples) and needs a server that behaves like a model
    without being scripted line by line.
    """
    if request.method == "GET":  # a model catalog
        models = [{"model_name": m, "model_type": "text"} for m in _CATALOG]
        models += [{"model_name": m, "model_type": "embedding"} for m in _EMBEDDING_CATALOG]
        listing = {"data": {"models": models}}
        return Reply(200, {"Content-Type": "application/json"}, json.dumps(listing).encode())
    if request.path.endswith("/embeddings"):
        return embeddings_reply(request)
    body = request.json
    message = _generic_message(body)
    if not body.get("stream"):
        reply = completion(
            message.get("content"),
            model=body["model"],
            id=_fresh_id(),
            **{k: v for k, v in message.items() if k != "content"},
        )
        if message.get("tool_calls"):
            reply["choices"][0]["finish_reason"] = "tool_calls"
        return Reply(200, {"Content-Type": "application/json"}, json.dumps(reply).encode())
    events: list[Any] = [chunk({"role": "assistant", "content": ""}, model=body["model"])]
    for index, call in enumerate(message.get("tool_calls") or []):
        head = {"index": index, "id": call["id"], "type": "function"}
        events.append(
            chunk({"tool_calls": [{**head, "function": {"name": call["function"]["name"]}}]})
        )
        arguments = call["function"]["arguments"]
        events.append(
            chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]})
        )
    text = message.get("content") or ""
    words = text.split(" ")
    events += [chunk({"content": w if i == 0 else " " + w}) for i, w in enumerate(words) if text]
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    events.append(chunk({}, finish_reason=finish, model=body["model"]))
    if (body.get("stream_options") or {}).get("include_usage"):
        events.append(usage_chunk(12, max(len(words), 1)))
    return Reply(200, {"Content-Type": "text/event-stream"}, pieces=sse(*events))


def _fresh_id() -> str:
    # Real servers never reuse a response id, and LangGraph merges messages that share one.
    return f"chatcmpl-{uuid.uuid4().hex}"


def _generic_message(body: dict[str, Any]) -> dict[str, Any]:
    tools = {t["function"]["name"]: t["function"] for t in body.get("tools") or []}
    choice = body.get("tool_choice")
    last = body["messages"][-1]
    wants_call = tools and last["role"] != "tool" and choice != "none"
    if wants_call:
        if isinstance(choice, dict):
            name = choice["function"]["name"]
        else:
            text = json.dumps(last.get("content"))
            name = next((n for n in tools if n.lower() in text.lower()), next(iter(tools)))
        arguments = json.dumps(example_for(tools[name].get("parameters") or {}))
        calls = [
            {
                "id": f"call-{len(body['messages'])}",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
        ]
        return {"content": None, "tool_calls": calls}
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return {"content": json.dumps(example_for(response_format["json_schema"]["schema"]))}
    if response_format.get("type") == "json_object":
        return {"content": "{}"}
    content = last.get("content")
    if isinstance(content, list):
        content = " ".join(p.get("text", "[image]") for p in content if isinstance(p, dict))
    answer = f"You said: {content}"
    if "r1" in body["model"].lower() or "qwq" in body["model"].lower():
        # Like DeepSeek-R1 behind a server without a reasoning parser: the chat
        # template opened <think>, so the reply starts inside it.
        answer = f"The user wrote {content!r}; I should repeat it.\n</think>\n\n{answer}"
    return {"content": answer}
