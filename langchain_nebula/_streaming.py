r"""Server-sent events → ``AIMessageChunk``s: a state machine fed raw bytes.

No I/O here: the transport reads the body (sync or async) and hands each piece of
bytes to ``StreamParser.feed``, which returns the chunks those bytes completed. Piece
boundaries may fall anywhere, even inside a UTF-8 character or a ``\r\n`` pair; the
result is the same as if the whole body had arrived at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessageChunk
from langchain_core.messages.tool import ToolCallChunk
from langchain_core.outputs import ChatGenerationChunk

from langchain_nebula._exceptions import NebulaStreamError, error_from_event
from langchain_nebula._profiles import ReasoningForm
from langchain_nebula._reasoning import ThinkTagSplitter, reasoning_field
from langchain_nebula._responses import PROVIDER, map_usage, response_metadata

__all__ = ["SSEDecoder", "StreamParser"]

_DONE = b"[DONE]"
_decode_json = json.JSONDecoder().decode
# One event larger than this is not a chat delta; refuse it rather than buffer forever.
_MAX_EVENT_BYTES = 32 * 1024 * 1024


class SSEDecoder:
    """Splits an SSE byte stream into the ``data`` payloads of its events.

    Only ``data:`` fields matter to the chat API; comments (``: keep-alive``) and the
    ``event``/``id``/``retry`` fields are skipped.
    """

    __slots__ = ("_data", "_pending", "_pending_size", "_size")

    def __init__(self) -> None:
        # Pieces of an unfinished line, joined only once the line ends, so a long line
        # arriving in many pieces costs linear, not quadratic, time.
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._data: list[bytes] = []
        self._size = 0

    def feed(self, piece: bytes) -> list[bytes]:
        """Returns the data of every event that ``piece`` completes."""
        if b"\n" not in piece and b"\r" not in piece:
            self._hold(piece)
            return []
        buffer = b"".join((*self._pending, piece)) if self._pending else piece
        self._pending = []
        self._pending_size = 0
        if b"\r" in buffer:
            # A trailing CR may be the first half of CRLF: wait for the next piece.
            held = buffer.endswith(b"\r")
            if held:
                buffer = buffer[:-1]
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if held:
                buffer += b"\r"
        lines = buffer.split(b"\n")
        self._hold(lines.pop())
        events: list[bytes] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(self._data[0] if len(self._data) == 1 else b"\n".join(self._data))
                    self._data = []
                    self._size = 0
            elif line.startswith(b"data:"):
                value = line[6:] if line[5:6] == b" " else line[5:]
                self._size += len(value)
                if self._size > _MAX_EVENT_BYTES:
                    msg = f"a stream event exceeded {_MAX_EVENT_BYTES} bytes"
                    raise NebulaStreamError(msg)
                self._data.append(value)
        return events

    def _hold(self, partial_line: bytes) -> None:
        if partial_line:
            self._pending.append(partial_line)
            self._pending_size += len(partial_line)
            if self._pending_size > _MAX_EVENT_BYTES:
                msg = f"a stream line exceeded {_MAX_EVENT_BYTES} bytes without ending"
                raise NebulaStreamError(msg)

    def flush(self) -> list[bytes]:
        """Returns an event left unterminated when the body ended."""
        return self.feed(b"\n\n") if self._pending or self._data else []


class StreamParser:
    """Turns the SSE body of a streamed completion into ``ChatGenerationChunk``s.

    Text deltas become chunks as they arrive. The chunk carrying ``finish_reason`` also
    carries the same response metadata an invoke reports. ``[DONE]`` produces one last
    chunk with the usage (reported once, whichever chunk carried it) and
    ``chunk_position="last"``. Reasoning (see ``map_completion``) goes to
    ``additional_kwargs["reasoning_content"]`` as it arrives. An error event, an
    unparseable event, or a body that ends before ``[DONE]`` raises
    ``NebulaStreamError`` (or the typed error the event names).
    """

    __slots__ = (
        "_decoder",
        "_id",
        "_named_calls",
        "_reads_fields",
        "_secret",
        "_splitter",
        "_usage",
        "_usage_is_final",
        "done",
        "yielded",
    )

    def __init__(self, *, secret: str | None = None, reasoning: ReasoningForm = "field") -> None:
        self._decoder = SSEDecoder()
        self._reads_fields = reasoning != "none"
        # Dropped as soon as a reasoning field shows the server separates reasoning.
        self._splitter = ThinkTagSplitter() if reasoning == "think_tags" else None
        self._secret = secret
        self._id: str | None = None
        self._usage: Mapping[str, Any] | None = None
        self._usage_is_final = False
        self._named_calls: dict[int, tuple[str | None, str]] = {}
        self.done = False
        self.yielded = 0

    def feed(self, piece: bytes) -> list[ChatGenerationChunk]:
        """Returns the chunks completed by ``piece`` of the response body."""
        chunks: list[ChatGenerationChunk] = []
        for data in self._decoder.feed(piece):
            if self.done:
                break
            chunk = self._map_event(data)
            if chunk is not None:
                chunks.append(chunk)
        self.yielded += len(chunks)
        return chunks

    def end(self) -> list[ChatGenerationChunk]:
        """Call when the body ends; returns trailing chunks or raises if it was cut short.

        Raises:
            NebulaStreamError: If the stream ended before ``data: [DONE]``.
        """
        chunks = [] if self.done else self._flush()
        if not self.done:
            msg = "the stream ended before [DONE]; the answer may be incomplete"
            raise NebulaStreamError(msg)
        return chunks

    def _flush(self) -> list[ChatGenerationChunk]:
        chunks = []
        for data in self._decoder.flush():
            chunk = self._map_event(data)
            if chunk is not None:
                chunks.append(chunk)
        return chunks

    def _map_event(self, data: bytes) -> ChatGenerationChunk | None:
        if data[:1] != b"{" and data.strip() == _DONE:
            self.done = True
            return self._final_chunk()
        try:
            # Decoding first skips json.loads' per-call encoding sniffing; bad UTF-8
            # raises UnicodeDecodeError, a ValueError, like bad JSON.
            event = _decode_json(data.decode())
        except ValueError:
            snippet = data[:200].decode("utf-8", "replace")
            msg = f"unparseable stream event: {snippet!r}"
            raise NebulaStreamError(msg, body=snippet) from None
        if not isinstance(event, dict):
            msg = f"stream event is a JSON {type(event).__name__}, not an object"
            raise NebulaStreamError(msg, body=event)
        if event.get("error"):
            raise error_from_event(event, secret=self._secret)
        if self._id is None:
            self._id = event.get("id")
        usage = event.get("usage")
        choices = event.get("choices")
        if usage and not self._usage_is_final:
            # The usage-only chunk (empty choices) is authoritative; usage attached to
            # other chunks (running totals) is kept only until it arrives.
            self._usage = usage
            self._usage_is_final = not choices
        if not choices:
            return None
        return self._map_choice(event, choices[0])

    def _map_choice(
        self, event: Mapping[str, Any], choice: Mapping[str, Any]
    ) -> ChatGenerationChunk | None:
        delta = choice.get("delta") or {}
        content = delta.get("content") or ""
        reasoning = ""
        if self._reads_fields:
            field = reasoning_field(delta)
            if field is not None:
                reasoning = field
                self._splitter = None
            if content and self._splitter is not None:
                reasoning, content = self._splitter.feed(content)
        finish_reason = choice.get("finish_reason")
        logprobs = choice.get("logprobs")
        raw_calls = delta.get("tool_calls")
        if not (finish_reason or logprobs or raw_calls or reasoning):
            if not content:
                return None
            # The hot path: a plain text delta. Passing only what is set keeps
            # pydantic's per-chunk validation to the minimum.
            return ChatGenerationChunk(message=AIMessageChunk(content=content, id=self._id))
        metadata: dict[str, Any] = response_metadata(event, finish_reason) if finish_reason else {}
        if logprobs:
            metadata["logprobs"] = logprobs
        message = AIMessageChunk(
            content=content,
            additional_kwargs={"reasoning_content": reasoning} if reasoning else {},
            id=self._id,
            response_metadata=metadata,
            tool_call_chunks=self._map_tool_call_chunks(raw_calls) if raw_calls else [],
        )
        info = {"finish_reason": finish_reason} if finish_reason else None
        return ChatGenerationChunk(message=message, generation_info=info)

    def _map_tool_call_chunks(self, raw_calls: Any) -> list[ToolCallChunk]:
        chunks: list[ToolCallChunk] = []
        if not isinstance(raw_calls, list):
            return chunks
        for position, raw in enumerate(raw_calls):
            if not isinstance(raw, Mapping):
                continue
            function = raw.get("function")
            function = function if isinstance(function, Mapping) else {}
            index = raw.get("index")
            index = index if isinstance(index, int) else position
            call_id, name = raw.get("id"), function.get("name")
            known = self._named_calls.get(index)
            if known is None and (name or call_id):
                if not call_id:
                    # vLLM's named tool_choice stream sends no id; mint a stable one.
                    call_id = f"call_{self._id or 'nebula'}_{index}"
                self._named_calls[index] = (call_id, name or "")
            elif known is not None:
                # vLLM repeats the name (and sometimes the id) in every chunk of a
                # named-choice stream; sending them again would concatenate them.
                if name == known[1]:
                    name = None
                if call_id == known[0]:
                    call_id = None
            chunks.append(
                ToolCallChunk(
                    name=name or None,
                    args=function.get("arguments"),
                    id=call_id,
                    index=index,
                    type="tool_call_chunk",
                )
            )
        return chunks

    def _final_chunk(self) -> ChatGenerationChunk:
        usage = map_usage(self._usage) if self._usage else None
        reasoning, content = self._splitter.finish() if self._splitter else ("", "")
        message = AIMessageChunk(
            content=content,
            additional_kwargs={"reasoning_content": reasoning} if reasoning else {},
            id=self._id,
            usage_metadata=usage,
            response_metadata={"model_provider": PROVIDER},
            chunk_position="last",
        )
        return ChatGenerationChunk(message=message)
