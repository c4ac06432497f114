"""Stream events → ``AIMessageChunk``s: a state machine fed one event at a time.

No I/O here: the transport reads the body (sync or async), splits it into server-sent
events and hands each event's data to ``StreamParser.feed``, which returns the chunk
the event completes, if any.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from langchain_core.messages import AIMessageChunk
from langchain_core.messages.tool import ToolCallChunk
from langchain_core.outputs import ChatGenerationChunk
from pydantic import BaseModel

from langchain_nebula._provider import PROVIDER
from langchain_nebula._redaction import Redactor
from langchain_nebula._wire.choices import (
    MessageText,
    arguments_text,
    map_usage,
    message_text,
    read_logprobs,
    read_refusal,
    response_metadata,
)
from langchain_nebula._wire.json_codec import decode_json
from langchain_nebula._wire.reasoning import (
    ReasoningMode,
    ReasoningSplitter,
    TrimmedText,
    reasoning_field,
)
from langchain_nebula.errors import NebulaStreamError, error_from_event

__all__ = ["StreamParser", "TextChunks", "stream_parsers"]

_DONE = b"[DONE]"
_NO_PARTS = MessageText("")


class TextChunks:
    """Builds the chunk of a plain text delta as a copy of one validated template.

    The result is the same object, in every respect (``==``, dumps with and without
    unset fields, ``dumpd``, ``repr``, addition), as
    ``ChatGenerationChunk(message=AIMessageChunk(content=text, id=message_id))``: the
    template was validated once, and a copy with fresh containers needs no validation,
    which saves about a third of a chunk's construction. ``test_stream.py`` proves the
    equality over generated texts.
    """

    __slots__ = ("_generation", "_generation_fields", "_message", "_message_fields", "message_id")

    def __init__(self, message_id: str | None) -> None:
        self.message_id = message_id
        self._message = AIMessageChunk(content="", id=message_id)
        self._generation = ChatGenerationChunk(message=self._message)
        self._message_fields = frozenset(self._message.model_fields_set)
        self._generation_fields = frozenset(self._generation.model_fields_set)

    def __call__(self, text: str) -> ChatGenerationChunk:
        """The chunk for ``text``."""
        message = _copied(
            self._message,
            {
                "content": text,
                "additional_kwargs": {},
                "response_metadata": {},
                "tool_call_chunks": [],
                "tool_calls": [],
                "invalid_tool_calls": [],
            },
            self._message_fields,
        )
        return _copied(
            self._generation, {"message": message, "text": text}, self._generation_fields
        )


_M = TypeVar("_M", bound=BaseModel)


def _copied(template: _M, fields: dict[str, Any], fields_set: frozenset[str]) -> _M:
    """``template`` with ``fields`` replaced.

    Built as pydantic's ``model_copy`` builds a copy (a new instance sharing nothing
    mutable), without that method's per-call overhead.
    """
    copied = object.__new__(type(template))
    object.__setattr__(copied, "__dict__", {**template.__dict__, **fields})
    extra = template.__pydantic_extra__
    object.__setattr__(copied, "__pydantic_extra__", None if extra is None else dict(extra))
    private = template.__pydantic_private__
    object.__setattr__(copied, "__pydantic_private__", None if private is None else dict(private))
    # Construction marks only these fields as set, whatever was replaced.
    object.__setattr__(copied, "__pydantic_fields_set__", set(fields_set))
    return copied


class StreamParser:
    """Turns a streamed completion's events into ``ChatGenerationChunk``s.

    Text deltas become chunks as they arrive. The chunk carrying ``finish_reason`` also
    carries the same response metadata an invoke reports. ``[DONE]`` produces one last
    chunk with the usage (reported once, whichever chunk carried it) and
    ``chunk_position="last"``. Reasoning goes to ``additional_kwargs["reasoning_content"]``
    by the same rule as invoke (see ``_reasoning``), so the chunks add up to what invoke
    returns for the same reply. An error event, an event of the wrong shape, or a body
    that ends before ``[DONE]`` raises ``NebulaStreamError`` (or the typed error the event
    names).

    Args:
        mode: How reasoning is read.
        redactor: Masks the API key in errors built from events.
        headers: Response headers to report on the first chunk, or ``None``.
    """

    __slots__ = (
        "_field_reasoning",
        "_headers",
        "_id",
        "_named_calls",
        "_raw",
        "_redactor",
        "_splitter",
        "_strip_answer",
        "_text_chunk",
        "_usage",
        "_usage_is_final",
        "done",
    )

    def __init__(
        self,
        *,
        mode: ReasoningMode = "field",
        redactor: Redactor | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._raw = mode == "none"
        self._splitter = (
            ReasoningSplitter(implicit_open=mode == "tags")
            if mode in ("tags", "leading_tag")
            else None
        )
        self._field_reasoning: TrimmedText | None = None
        self._strip_answer = False
        self._redactor = redactor or Redactor(None)
        self._headers = dict(headers) if headers is not None else None
        self._id: str | None = None
        self._usage: Mapping[str, Any] | None = None
        self._usage_is_final = False
        self._named_calls: dict[int, tuple[str | None, str]] = {}
        self._text_chunk: TextChunks | None = None
        self.done = False

    def feed(self, data: bytes) -> ChatGenerationChunk | None:
        """Returns the chunk one event's data completes, if any."""
        if self.done:
            return None
        if data[:1] != b"{" and data.strip() == _DONE:
            self.done = True
            return self._final_chunk()
        try:
            event = decode_json(data)
        except (ValueError, RecursionError):
            snippet = self._redactor.text(data[:200].decode("utf-8", "replace"))
            msg = f"unparseable stream event: {snippet!r}"
            raise NebulaStreamError(msg, body=snippet) from None
        if event.__class__ is not dict:
            self._malformed(f"a stream event is a JSON {type(event).__name__}", event)
        if event.get("error"):
            raise error_from_event(event, redactor=self._redactor)
        if self._id is None and isinstance(event_id := event.get("id"), str):
            self._id = event_id
        usage = event.get("usage")
        choices = event.get("choices")
        if usage:
            if not isinstance(usage, Mapping):
                self._malformed("a stream event's usage is not an object", event)
            if not self._usage_is_final:
                # The usage-only chunk (no choices) is authoritative; usage attached to
                # other chunks (running totals) is kept only until it arrives.
                self._usage = usage
                self._usage_is_final = not choices
        if not choices:
            return None
        if choices.__class__ is not list or choices[0].__class__ is not dict:
            self._malformed("a stream event's choices are not a list of objects", event)
        return self._map_choice(event, choices[0])

    def end(self) -> None:
        """Call when the body ends.

        Raises:
            NebulaStreamError: If the stream ended before ``data: [DONE]``.
        """
        if not self.done:
            msg = "the stream ended before [DONE]; the answer may be incomplete"
            raise NebulaStreamError(msg, retryable=True)

    def held(self) -> ChatGenerationChunk | None:
        """The text held back undecided (reasoning or answer?), as the server sent it.

        For a stream that failed before anything decided it: every character the
        server sent still reaches the caller, before the error.
        """
        splitter = self._splitter
        if splitter is None:
            return None
        self._splitter = None
        reasoning, content = splitter.end(None)
        if not (reasoning or content):
            return None
        message = AIMessageChunk(
            content=content,
            additional_kwargs={"reasoning_content": reasoning} if reasoning else {},
            id=self._id,
        )
        return ChatGenerationChunk(message=message)

    def _malformed(self, what: str, event: Any) -> None:
        body = self._redactor.text(str(event)[:500])
        raise NebulaStreamError(f"{what}, which is not a chat completion chunk", body=body)

    def _map_choice(
        self, event: Mapping[str, Any], choice: Mapping[str, Any]
    ) -> ChatGenerationChunk | None:
        delta = choice.get("delta")
        if delta is None:
            delta = {}
        elif delta.__class__ is not dict:
            self._malformed("a stream delta is not an object", event)
        content = delta.get("content")
        additional: dict[str, Any] = {}
        if content.__class__ is str:
            read = _NO_PARTS
        else:
            if content is not None and not isinstance(content, list):
                self._malformed(
                    f"a stream delta's content is a JSON {type(content).__name__}", event
                )
            read = message_text(content, "a stream delta's")
            content = read.text
            if read.other_parts:
                additional["content_parts"] = read.other_parts
        if ("refusal" in delta or read.refusal) and (refusal := read_refusal(delta, read)):
            additional["refusal"] = refusal
        reasoning = ""
        if (field := reasoning_field(delta)) is not None:
            if self._raw:
                reasoning = field
            else:
                reasoning, held = self._field_text(field)
                content = held + content
        splitter = self._splitter
        if splitter is not None and content:
            reasoning_part, content = splitter.feed(content)
            reasoning += reasoning_part
        elif content and self._strip_answer:
            content = content.lstrip()
            self._strip_answer = not content
        finish_reason = choice.get("finish_reason")
        unfinished = False
        if splitter is not None and (finish_reason or splitter.decided):
            if finish_reason:
                more_reasoning, more_content = splitter.end(finish_reason)
                reasoning += more_reasoning
                content += more_content
                unfinished = splitter.unfinished
            self._splitter = None
        logprobs = read_logprobs(choice)
        raw_calls = delta.get("tool_calls")
        if not (
            finish_reason
            or logprobs is not None
            or raw_calls
            or reasoning
            or additional
            or self._headers
        ):
            if not content:
                return None
            # The hot path: a plain text delta.
            text_chunk = self._text_chunk
            if text_chunk is None or text_chunk.message_id != self._id:
                text_chunk = self._text_chunk = TextChunks(self._id)
            return text_chunk(content)
        metadata: dict[str, Any] = (
            response_metadata(event, finish_reason, choice=choice) if finish_reason else {}
        )
        if unfinished:
            metadata["reasoning_unfinished"] = True
        if logprobs is not None:
            metadata["logprobs"] = logprobs
        if self._headers is not None:
            metadata["headers"], self._headers = self._headers, None
        if reasoning:
            additional["reasoning_content"] = reasoning
        message = AIMessageChunk(
            content=content,
            additional_kwargs=additional,
            id=self._id,
            response_metadata=metadata,
            tool_call_chunks=self._map_tool_call_chunks(raw_calls) if raw_calls else [],
        )
        info = {"finish_reason": finish_reason} if finish_reason else None
        return ChatGenerationChunk(message=message, generation_info=info)

    def _field_text(self, field: str) -> tuple[str, str]:
        """(reasoning, earlier held text) for a reasoning field's delta.

        The server separates reasoning itself, so tag splitting stops; whatever the
        splitter held back until now is released as it was sent.
        """
        held_reasoning = held = ""
        if self._field_reasoning is None:
            self._field_reasoning = TrimmedText()
            if self._splitter is not None:
                held_reasoning, held = self._splitter.end(None)
                self._splitter = None
        text = self._field_reasoning.feed(field)
        if text:
            self._strip_answer = True
        return held_reasoning + text, held

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
            index = index if isinstance(index, int) and not isinstance(index, bool) else position
            call_id = raw.get("id") if isinstance(raw.get("id"), str) else None
            name = function.get("name") if isinstance(function.get("name"), str) else None
            arguments = function.get("arguments")
            if arguments is not None and not isinstance(arguments, str):
                # Some servers send the arguments as an object; invoke accepts that too.
                arguments = arguments_text(arguments)
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
                    args=arguments,
                    id=call_id,
                    index=index,
                    type="tool_call_chunk",
                )
            )
        return chunks

    def _final_chunk(self) -> ChatGenerationChunk:
        usage = map_usage(self._usage) if self._usage else None
        reasoning, content = ("", "")
        metadata: dict[str, Any] = {"model_provider": PROVIDER}
        if self._usage:
            metadata["token_usage"] = dict(self._usage)  # as invoke reports it
        if self._splitter is not None:  # no finish_reason came: the reply just ended
            reasoning, content = self._splitter.end(None)
            if self._splitter.unfinished:
                metadata["reasoning_unfinished"] = True
            self._splitter = None
        if self._headers is not None:
            metadata["headers"], self._headers = self._headers, None
        message = AIMessageChunk(
            content=content,
            additional_kwargs={"reasoning_content": reasoning} if reasoning else {},
            id=self._id,
            usage_metadata=usage,
            response_metadata=metadata,
            chunk_position="last",
        )
        return ChatGenerationChunk(message=message)


def stream_parsers(
    mode: ReasoningMode, redactor: Redactor, *, keep_headers: bool
) -> Callable[[Mapping[str, str]], StreamParser]:
    """Makes a fresh ``StreamParser`` per attempt, from that response's headers."""

    def new_parser(headers: Mapping[str, str]) -> StreamParser:
        return StreamParser(mode=mode, redactor=redactor, headers=headers if keep_headers else None)

    return new_parser
