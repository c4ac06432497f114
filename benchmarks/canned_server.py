"""A canned OpenAI-compatible chat server on 127.0.0.1, fast enough not to be measured.

Run it as its own process (``CannedServer`` below does), so it never shares the GIL
with the client under test. It is a minimal asyncio HTTP/1.1 server over raw sockets:
keep-alive, ``Content-Length`` requests, ``Content-Length`` JSON answers, chunked SSE
answers with one HTTP chunk per event (as a real server flushes per token). Every
answer is precomputed and cached; a request costs one small ``json.loads``.

``POST /v1/chat/completions`` answers:

* without ``"stream": true``: the same ``chat.completion`` every time;
* with ``"stream": true``: ``chunks`` content chunks, then a finish chunk, a usage
  chunk (empty ``choices``) and ``data: [DONE]``. The last user message picks the
  shape with ``key=value`` words: ``chunks=N`` (default 20) and ``chunk_bytes=B``
  (each content delta exactly B bytes; default: a short word, like a token). So
  ``"chunks=10240 chunk_bytes=1024"`` streams a 10 MiB answer. ``pace_ms=P`` paces it
  like a model generating: the head goes at once, then one content chunk per stream
  every P ms, the last one together with the finish, usage and ``[DONE]`` events. All
  paced streams share one clock (as the sequences of an inference server's batch get
  one token per step): a tick writes the next event of every open stream.

``POST /v1/embeddings`` answers one ``embedding`` item per input, in order, each a
fixed pseudo-random float32 vector (``dimensions`` long, default 1024 like
``BAAI/bge-large-en-v1.5``), as JSON numbers or, with ``"encoding_format": "base64"``,
as base64 little-endian float32s: the two forms carry exactly the same values.

Standalone: ``python benchmarks/canned_server.py [--port N]`` prints
``LISTENING <port>`` once it accepts connections, and stops on SIGINT or SIGTERM; with
``--exit-on-stdin-eof`` (as ``CannedServer`` starts it) also when its standard input
closes, so it never outlives the process that started it.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import base64
import contextlib
import functools
import json
import os
import random
import selectors
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["EMBEDDING_DIMENSIONS", "CannedServer", "embedding_vector", "stream_prompt"]

MODEL = "canned-model"
_CREATED = 1_700_000_000
_MAX_HEAD = 64 * 1024
_MAX_BODY = 16 * 1024 * 1024
_MAX_CHUNKS = 1_000_000
_COMPLETION_WORDS = 60
EMBEDDING_DIMENSIONS = 1024
_MAX_DIMENSIONS = 8192
_DISTINCT_VECTORS = 64  # vectors repeat after this many inputs


def stream_prompt(chunks: int, chunk_bytes: int | None = None, pace_ms: int | None = None) -> str:
    """The user message that asks the server for a stream of this shape."""
    prompt = f"chunks={chunks}"
    if chunk_bytes:
        prompt += f" chunk_bytes={chunk_bytes}"
    return f"{prompt} pace_ms={pace_ms}" if pace_ms else prompt


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _usage(completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": 12,
        "completion_tokens": completion_tokens,
        "total_tokens": 12 + completion_tokens,
    }


def _completion_body() -> bytes:
    text = " ".join(f"word{i}" for i in range(_COMPLETION_WORDS))
    return _json(
        {
            "id": "chatcmpl-canned",
            "object": "chat.completion",
            "created": _CREATED,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(_COMPLETION_WORDS),
        }
    )


def _chunk(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> bytes:
    event: dict[str, Any] = {
        "id": "chatcmpl-canned",
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": MODEL,
        "choices": choices,
    }
    if usage is not None:
        event["usage"] = usage
    return b"data: " + _json(event) + b"\n\n"


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@functools.lru_cache(maxsize=8)
def _stream_pieces(chunks: int, chunk_bytes: int | None) -> tuple[bytes, ...]:
    """The chunked-encoded SSE body for a stream of this shape, one piece per event."""
    pieces = []
    for index in range(chunks):
        content = "x" * chunk_bytes if chunk_bytes else f"tok{index} "
        delta: dict[str, Any] = {"content": content}
        if index == 0:
            delta = {"role": "assistant", **delta}
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        pieces.append(_http_chunk(_chunk([choice])))
    finish = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    pieces.append(_http_chunk(_chunk([finish])))
    pieces.append(_http_chunk(_chunk([], usage=_usage(chunks))))
    pieces.append(_http_chunk(b"data: [DONE]\n\n"))
    pieces.append(b"0\r\n\r\n")
    return tuple(pieces)


@functools.lru_cache(maxsize=8)
def _stream_body(chunks: int, chunk_bytes: int | None) -> bytes:
    """The whole body at once."""
    return b"".join(_stream_pieces(chunks, chunk_bytes))


@functools.lru_cache(maxsize=8)
def _paced_writes(chunks: int, chunk_bytes: int | None) -> tuple[bytes, ...]:
    """The body in one write per tick: a content event each, the last with the rest."""
    pieces = _stream_pieces(chunks, chunk_bytes)
    last = max(chunks - 1, 0)
    return (*pieces[:last], b"".join(pieces[last:]))


class _Pacer:
    """Writes the next piece of every open paced stream once per tick, on one clock."""

    def __init__(self, pace: float) -> None:
        self.pace = pace
        # [transport, pieces, next index, close when done]
        self.streams: list[list[Any]] = []
        self.task: asyncio.Task[None] | None = None

    def add(self, transport: asyncio.Transport, pieces: tuple[bytes, ...], close: bool) -> None:
        self.streams.append([transport, pieces, 0, close])
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        tick = loop.time()
        try:
            while self.streams:
                tick += self.pace
                await asyncio.sleep(max(0.0, tick - loop.time()))
                open_streams = []
                for stream in self.streams:
                    transport, pieces, index, close = stream
                    if transport.is_closing():
                        continue
                    transport.write(pieces[index])
                    stream[2] = index + 1
                    if index + 1 < len(pieces):
                        open_streams.append(stream)
                    elif close:
                        transport.close()
                self.streams = open_streams
        finally:
            self.task = None


_pacers: dict[float, _Pacer] = {}


def _stream_shape(request: dict[str, Any]) -> tuple[int, int | None, float | None]:
    messages = request.get("messages") or [{}]
    text = messages[-1].get("content")
    words = (
        dict(word.split("=", 1) for word in text.split() if "=" in word)
        if isinstance(text, str)
        else {}
    )
    chunks = min(max(int(words.get("chunks", 20)), 0), _MAX_CHUNKS)
    chunk_bytes = min(int(words["chunk_bytes"]), _MAX_BODY) if "chunk_bytes" in words else None
    pace = int(words["pace_ms"]) / 1000 if "pace_ms" in words else None
    return chunks, chunk_bytes, pace if pace and pace > 0 else None


@functools.lru_cache(maxsize=_DISTINCT_VECTORS * 2)
def embedding_vector(index: int, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """The vector answered for input ``index``: float32 values, like a real model's."""
    rng = random.Random(index % _DISTINCT_VECTORS)
    values = array.array("f", (rng.gauss(0.0, 0.05) for _ in range(dimensions)))
    return values.tolist()


@functools.lru_cache(maxsize=_DISTINCT_VECTORS * 4)
def _embedding_item(slot: int, dimensions: int, base64_format: bool) -> bytes:
    vector = embedding_vector(slot, dimensions)
    if base64_format:
        packed = array.array("f", vector)
        if sys.byteorder == "big":
            packed.byteswap()
        encoded: Any = base64.b64encode(packed.tobytes()).decode()
    else:
        encoded = vector
    # The index is spliced in per request: {"object":"embedding","index":<i>,...}
    return _json({"object": "embedding", "embedding": encoded})[1:]


@functools.lru_cache(maxsize=16)
def _embeddings_body(count: int, dimensions: int, base64_format: bool) -> bytes:
    """The whole answer for ``count`` inputs."""
    items = b",".join(
        b'{"index":%d,' % index
        + _embedding_item(index % _DISTINCT_VECTORS, dimensions, base64_format)
        for index in range(count)
    )
    usage = _json({"prompt_tokens": 5 * count, "total_tokens": 5 * count})
    return (
        b'{"object":"list","data":['
        + items
        + b'],"model":"'
        + MODEL.encode()
        + b'","usage":'
        + usage
        + b"}"
    )


def _embeddings_shape(request: dict[str, Any]) -> tuple[int, int, bool]:
    texts = request["input"]
    count = 1 if isinstance(texts, str) else len(texts)
    dimensions = int(request.get("dimensions") or EMBEDDING_DIMENSIONS)
    if not 1 <= dimensions <= _MAX_DIMENSIONS:
        raise ValueError(f"dimensions must be between 1 and {_MAX_DIMENSIONS}")
    return count, dimensions, request.get("encoding_format") == "base64"


_COMPLETION = _completion_body()
_JSON_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n"
)


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; requests are answered in order."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._transport is not None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > _MAX_HEAD:
                    self._reply_error(431, "request head too large", close=True)
                return
            lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
            method, path, version = [*lines[0].split(" "), "", "", ""][:3]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", ""):
                self._reply_error(411, "send a Content-Length", close=True)
                return
            length = int(headers.get("content-length") or 0)
            if length > _MAX_BODY:
                self._reply_error(413, "request body too large", close=True)
                return
            total = end + 4 + length
            if len(self._buffer) < total:
                return
            body = bytes(self._buffer[end + 4 : total])
            del self._buffer[:total]
            close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
            self._answer(method, path, body, close=close)

    def _answer(self, method: str, path: str, body: bytes, *, close: bool) -> None:
        route = path.split("?", 1)[0].rstrip("/")
        if route not in ("/v1/chat/completions", "/v1/embeddings"):
            self._reply_error(404, f"no route {path}", close=close)
            return
        if method != "POST":
            self._reply_error(405, "POST only", close=close)
            return
        try:
            request = json.loads(body)
            if route == "/v1/embeddings":
                answer = _embeddings_body(*_embeddings_shape(request))
            else:
                streamed = bool(request.get("stream"))
                shape = _stream_shape(request) if streamed else None
        except (ValueError, AttributeError, TypeError, KeyError) as exc:
            self._reply_error(400, f"bad request: {exc}", close=close)
            return
        connection = b"connection: close\r\n\r\n" if close else b"\r\n"
        assert self._transport is not None
        if route == "/v1/embeddings":
            self._transport.write(_JSON_HEAD % len(answer) + connection)
            self._transport.write(answer)  # megabytes: not copied into one buffer
        elif shape is None:
            self._transport.write(_JSON_HEAD % len(_COMPLETION) + connection + _COMPLETION)
        elif shape[2] is None:
            self._transport.write(_SSE_HEAD + connection + _stream_body(*shape[:2]))
        else:
            self._transport.write(_SSE_HEAD + connection)
            pacer = _pacers.get(shape[2]) or _pacers.setdefault(shape[2], _Pacer(shape[2]))
            pacer.add(self._transport, _paced_writes(*shape[:2]), close)
            return
        if close:
            self._transport.close()

    def _reply_error(self, status: int, message: str, *, close: bool) -> None:
        assert self._transport is not None
        body = _json({"error": {"message": message, "type": "canned_server_error"}})
        head = (
            f"HTTP/1.1 {status} Error\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
        ).encode()
        self._transport.write(head + (b"connection: close\r\n\r\n" if close else b"\r\n") + body)
        if close:
            self._transport.close()


async def serve(port: int, *, exit_on_stdin_eof: bool = False) -> None:
    """Serves until SIGINT, SIGTERM or (if asked) the end of standard input."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    def on_stdin() -> None:
        try:
            data = os.read(stdin, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(stdin)
            stop.set()

    server = await loop.create_server(_Connection, "127.0.0.1", port, backlog=2048)
    stdin = sys.stdin.fileno()
    if exit_on_stdin_eof:
        loop.add_reader(stdin, on_stdin)
    print(f"LISTENING {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await stop.wait()


class CannedServer:
    """Starts ``canned_server.py`` in a child process; always stops it on exit.

    Usage::

        with CannedServer() as server:
            ...  # server.base_url is "http://127.0.0.1:<port>/v1"
    """

    def __init__(self, *, start_timeout: float = 30.0) -> None:
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """The OpenAI-style API root, ending in ``/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int:
        """The server process id."""
        assert self._process is not None
        return self._process.pid

    def __enter__(self) -> CannedServer:
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--exit-on-stdin-eof"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        try:
            self.port = self._read_port()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _read_port(self) -> int:
        """Waits (bounded) for the ``LISTENING <port>`` line the server prints."""
        assert self._process is not None
        assert self._process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            if not selector.select(self._start_timeout):
                msg = f"the canned server did not start within {self._start_timeout} s"
                raise RuntimeError(msg)
        line = self._process.stdout.readline().decode().split()
        if len(line) != 2 or line[0] != "LISTENING":
            msg = f"the canned server failed to start (exit code {self._process.poll()})"
            raise RuntimeError(msg)
        port = int(line[1])
        # The line is printed after listen(); a connect proves it.
        with socket.create_connection(("127.0.0.1", port), timeout=self._start_timeout):
            pass
        return port

    def stop(self) -> None:
        """Stops the server: SIGTERM, then SIGKILL if it does not exit in 5 s."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def cpu_seconds(self) -> float | None:
        """User + system CPU time the server has used (Linux; ``None`` elsewhere)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # Fields 14 and 15 (utime, stime) of proc(5), counted after "pid (comm)".
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop when standard input closes (used by CannedServer)",
    )
    args = parser.parse_args()
    asyncio.run(serve(args.port, exit_on_stdin_eof=args.exit_on_stdin_eof))


if __name__ == "__main__":
    main()
