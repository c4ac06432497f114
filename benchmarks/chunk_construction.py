"""Per-chunk costs: building chunks (validated vs ``model_construct``) and core's loop.

1. **Equality.** For each chunk shape ChatNebula emits (text delta, tool-call deltas,
   finish chunk with metadata, reasoning, the last chunk with usage and
   ``chunk_position="last"``), builds ``AIMessageChunk`` + ``ChatGenerationChunk`` the
   validated way and with ``model_construct`` (``text=`` passed explicitly), and
   compares them: ``==``, ``model_dump()``, ``model_dump(exclude_unset=True)``,
   ``model_fields_set``, ``dumpd``, ``repr``, ``content_blocks``, ``.text``, the sum of
   two chunks, and after the assignment langchain-core's ``stream`` makes per chunk.
2. **Cost.** ns to build one chunk pair each way (interleaved medians), and the GC-tracked
   objects one retained chunk pair keeps alive.
3. **langchain-core's per-chunk loop.** ``BaseChatModel.stream`` over chunks that are
   already built (no I/O, no parsing), per chunk, for 200 and 2000 chunks; and the
   pieces of it: the response_metadata merge + assignment, ``on_llm_new_token`` without
   handlers, and ``merge_chat_generation_chunks`` at the end.
4. **Callbacks.** How often a callback handler sees ``on_llm_new_token`` per chunk
   during ``.stream()`` for lc-floor, ChatNebula and ChatOpenAI (canned server).

Run::

    uv run --locked --group bench python benchmarks/chunk_construction.py
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import statistics
import sys
import time
import timeit
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.chat_models import _gen_info_and_msg_metadata
from langchain_core.load import dumpd
from langchain_core.messages import AIMessageChunk
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.outputs.chat_generation import merge_chat_generation_chunks

ID = "chatcmpl-5f2b8d0e3a9c4e71b6d2a8f4c1e9b3d7"

# (label, AIMessageChunk kwargs, generation_info): the shapes _streaming.py builds.
CASES: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    ("text delta", {"content": " the", "id": ID}, None),
    (
        "tool call, first delta",
        {
            "content": "",
            "id": ID,
            "additional_kwargs": {},
            "response_metadata": {},
            "tool_call_chunks": [
                tool_call_chunk(name="get_weather", args='{"city": "Pa', id="call_1", index=0)
            ],
        },
        None,
    ),
    (
        "tool call, later delta",
        {
            "content": "",
            "id": ID,
            "additional_kwargs": {},
            "response_metadata": {},
            "tool_call_chunks": [tool_call_chunk(name=None, args='ris"}', id=None, index=0)],
        },
        None,
    ),
    (
        "finish (response_metadata, generation_info)",
        {
            "content": "",
            "id": ID,
            "additional_kwargs": {},
            "tool_call_chunks": [],
            "response_metadata": {
                "finish_reason": "stop",
                "model_name": "m",
                "model_provider": "nebula",
                "system_fingerprint": None,
            },
        },
        {"finish_reason": "stop"},
    ),
    (
        "reasoning delta",
        {
            "content": "",
            "id": ID,
            "additional_kwargs": {"reasoning_content": "Hmm, "},
            "response_metadata": {},
            "tool_call_chunks": [],
        },
        None,
    ),
    (
        "last (usage_metadata, chunk_position)",
        {
            "content": "",
            "id": ID,
            "additional_kwargs": {},
            "usage_metadata": {
                "input_tokens": 12,
                "output_tokens": 200,
                "total_tokens": 212,
                "input_token_details": {"cache_read": 4},
                "output_token_details": {"reasoning": 0},
            },
            "response_metadata": {"model_provider": "nebula"},
            "chunk_position": "last",
        },
        None,
    ),
]


def validated(kwargs: dict[str, Any], info: dict[str, Any] | None) -> ChatGenerationChunk:
    """As _streaming.py builds them: ``generation_info`` only when there is one."""
    if info is None:
        return ChatGenerationChunk(message=AIMessageChunk(**kwargs))
    return ChatGenerationChunk(message=AIMessageChunk(**kwargs), generation_info=info)


def constructed(kwargs: dict[str, Any], info: dict[str, Any] | None) -> ChatGenerationChunk:
    """``model_construct`` as one would first write it (defaults left to pydantic)."""
    message = AIMessageChunk.model_construct(**kwargs)
    if info is None:
        return ChatGenerationChunk.model_construct(message=message, text=message.text)
    return ChatGenerationChunk.model_construct(
        message=message, text=message.text, generation_info=info
    )


# pydantic 2.14's model_construct calls inspect.signature() on every default_factory it
# falls back to (to see whether it takes validated data): ~45 µs per factory. Passing
# every factory field avoids that; ``_fields_set`` then keeps exclude_unset dumps equal.
_FACTORY_FIELDS = tuple(
    name for name, field in AIMessageChunk.model_fields.items() if field.default_factory is not None
)


def constructed_explicit(
    kwargs: dict[str, Any], info: dict[str, Any] | None
) -> ChatGenerationChunk:
    """``model_construct`` with every default_factory field passed, and ``_fields_set``."""
    values = {
        name: {} if AIMessageChunk.model_fields[name].default_factory is dict else []
        for name in _FACTORY_FIELDS
    }
    values.update(kwargs)
    message = AIMessageChunk.model_construct(set(kwargs), **values)
    text = message.text
    if info is None:
        return ChatGenerationChunk.model_construct({"message", "text"}, message=message, text=text)
    return ChatGenerationChunk.model_construct(
        {"message", "text", "generation_info"}, message=message, text=text, generation_info=info
    )


_MESSAGE_FIELDS = {name: field for name, field in AIMessageChunk.model_fields.items()}
_GENERATION_DEFAULTS = {"generation_info": None, "type": "ChatGenerationChunk"}


def constructed_all(kwargs: dict[str, Any], info: dict[str, Any] | None) -> ChatGenerationChunk:
    """``model_construct`` with *every* field passed: no pydantic default handling at all."""
    values = {}
    for name, field in _MESSAGE_FIELDS.items():
        if name in kwargs:
            values[name] = kwargs[name]
        elif field.default_factory is not None:
            values[name] = {} if field.default_factory is dict else []
        else:
            values[name] = field.default
    message = AIMessageChunk.model_construct(set(kwargs), **values)
    fields_set = {"message", "text"} if info is None else {"message", "text", "generation_info"}
    return ChatGenerationChunk.model_construct(
        fields_set,
        text=message.text,
        generation_info=info,
        type="ChatGenerationChunk",
        message=message,
    )


BUILDERS = {
    "validated": validated,
    "construct": constructed,
    "construct, explicit": constructed_explicit,
    "construct, all fields": constructed_all,
}


def as_core_stream_does(chunk: ChatGenerationChunk) -> ChatGenerationChunk:
    """What ``BaseChatModel.stream`` does to each chunk before yielding it."""
    if chunk.message.id is None:
        chunk.message.id = "lc_run--x"
    chunk.message.response_metadata = _gen_info_and_msg_metadata(chunk)
    return chunk


def compare(a: ChatGenerationChunk, b: ChatGenerationChunk) -> dict[str, bool]:
    ma, mb = a.message, b.message
    return {
        "msg ==": ma == mb,
        "gen ==": a == b,
        "model_dump": ma.model_dump() == mb.model_dump() and a.model_dump() == b.model_dump(),
        "exclude_unset dump": ma.model_dump(exclude_unset=True) == mb.model_dump(exclude_unset=True)
        and a.model_dump(exclude_unset=True) == b.model_dump(exclude_unset=True),
        "fields_set": ma.model_fields_set == mb.model_fields_set
        and a.model_fields_set == b.model_fields_set,
        "dumpd": dumpd(ma) == dumpd(mb) and dumpd(a) == dumpd(b),
        "repr": repr(ma) == repr(mb) and repr(a) == repr(b),
        "content_blocks": ma.content_blocks == mb.content_blocks,
        "text": a.text == b.text,
        "a+a == b+b": (a + a) == (b + b) and (ma + ma) == (mb + mb),
    }


def equality_report() -> list[str]:
    lines = []
    header = None
    for variant in ("construct", "construct, explicit", "construct, all fields"):
        build = BUILDERS[variant]
        for label, kwargs, info in CASES:
            a, b = validated(kwargs, info), build(kwargs, info)
            checks = compare(a, b)
            after = compare(
                as_core_stream_does(validated(kwargs, info)),
                as_core_stream_does(build(kwargs, info)),
            )
            checks["== after core's loop"] = after["msg =="] and after["gen =="]
            if header is None:
                header = list(checks)
                lines.append("| builder | chunk | " + " | ".join(header) + " |")
                lines.append("| --- | --- |" + " :---: |" * len(header))
            lines.append(
                f"| {variant} | {label} | "
                + " | ".join("yes" if checks[k] else "**no**" for k in header)
                + " |"
            )
            if not all(checks.values()):
                diffs = {k: v for k, v in a.message.__dict__.items() if getattr(b.message, k) != v}
                notes = []
                if diffs:
                    notes.append(f"validated has {diffs}")
                for what, x, y in (("message", a.message, b.message), ("generation", a, b)):
                    if x.model_fields_set != y.model_fields_set:
                        notes.append(
                            f"{what} fields_set validated {sorted(x.model_fields_set)}"
                            f" vs {sorted(y.model_fields_set)}"
                        )
                lines.append(f"| | ↳ {'; '.join(notes)} |" + " |" * len(header))
    return lines


def tracked_per_chunk(build: Callable[[], ChatGenerationChunk], count: int = 2000) -> float:
    gc.collect()
    before = len(gc.get_objects())
    kept = [as_core_stream_does(build()) for _ in range(count)]
    gc.collect()
    after = len(gc.get_objects())
    del kept
    return (after - before - 1) / count


def cost_report(rounds: int) -> list[str]:
    names = list(BUILDERS)
    lines = [
        "| chunk | "
        + " | ".join(f"{n}, ns" for n in names)
        + " | GC-tracked objects kept per chunk ("
        + " / ".join(names)
        + ") |",
        "| --- |" + " ---: |" * len(names) + " --- |",
    ]
    for label, kwargs, info in CASES:
        samples: dict[str, list[float]] = {n: [] for n in names}
        for round_index in range(rounds):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                fn = BUILDERS[name]
                timer = timeit.Timer(lambda fn=fn, kw=kwargs, gi=info: fn(kw, gi))
                number = 200 if name == "construct" else 2000
                samples[name].append(min(timer.repeat(3, number)) / number)
        cells = [f"{statistics.median(samples[n]) * 1e9:,.0f}" for n in names]
        tracked = [
            f"{tracked_per_chunk(lambda fn=BUILDERS[n], kw=kwargs, gi=info: fn(kw, gi)):g}"
            for n in names
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {' / '.join(tracked)} |")
    return lines


class Prebuilt(BaseChatModel):
    """Yields chunks built beforehand: ``stream`` then costs only langchain-core.

    The chunks live in a class variable, not a pydantic field: core dumps the model's
    fields (``self.dict()``) for the invocation params of every call.
    """

    chunks: ClassVar[list[Any]] = []

    @property
    def _llm_type(self) -> str:
        return "prebuilt"

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        raise NotImplementedError

    def _stream(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        yield from self.chunks


def core_loop_report(rounds: int) -> list[str]:
    lines = ["| piece | 200 chunks, µs/chunk | 2000 chunks, µs/chunk |", "| --- | ---: | ---: |"]
    rows: dict[str, dict[int, list[float]]] = {}

    def add(key: str, n: int, value: float) -> None:
        rows.setdefault(key, {}).setdefault(n, []).append(value)

    for round_index in range(rounds):
        for n in (200, 2000) if round_index % 2 == 0 else (2000, 200):
            fresh = [validated({"content": f"tok{i} ", "id": ID}, None) for i in range(n)]
            Prebuilt.chunks = fresh
            model = Prebuilt()
            gc.collect()
            start = time.perf_counter()
            count = sum(1 for _ in model.stream("hi"))
            add(
                "BaseChatModel.stream, whole (chunks prebuilt)",
                n,
                (time.perf_counter() - start) / n,
            )
            assert count == n + 1  # core adds a chunk_position='last' chunk
            # The pieces, on the (now already processed) chunks.
            start = time.perf_counter()
            for chunk in fresh:
                chunk.message.response_metadata = _gen_info_and_msg_metadata(chunk)
            add(
                "  response_metadata merge + pydantic __setattr__",
                n,
                (time.perf_counter() - start) / n,
            )
            import uuid

            from langchain_core.callbacks import CallbackManagerForLLMRun

            manager = CallbackManagerForLLMRun(
                run_id=uuid.uuid4(), handlers=[], inheritable_handlers=[]
            )
            start = time.perf_counter()
            for chunk in fresh:
                manager.on_llm_new_token(chunk.message.content, chunk=chunk)
            add("  on_llm_new_token, no handlers", n, (time.perf_counter() - start) / n)
            gc.collect()
            start = time.perf_counter()
            merge_chat_generation_chunks(fresh)
            add(
                "  merge_chat_generation_chunks at the end (per chunk)",
                n,
                (time.perf_counter() - start) / n,
            )
            building = []
            gc.collect()
            start = time.perf_counter()
            for i in range(n):
                building.append(validated({"content": f"tok{i} ", "id": ID}, None))
            add("building the chunks (validated), kept alive", n, (time.perf_counter() - start) / n)
            for label, build in (
                ("model_construct, explicit", constructed_explicit),
                ("model_construct, all fields", constructed_all),
            ):
                building = []
                gc.collect()
                start = time.perf_counter()
                for i in range(n):
                    building.append(build({"content": f"tok{i} ", "id": ID}, None))
                add(
                    f"building the chunks ({label}), kept alive",
                    n,
                    (time.perf_counter() - start) / n,
                )
            del building
    for key, by_n in rows.items():
        lines.append(
            f"| {key} | {statistics.median(by_n[200]) * 1e6:.2f} | "
            f"{statistics.median(by_n[2000]) * 1e6:.2f} |"
        )
    return lines


class Counter(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens = 0

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens += 1


def callbacks_report() -> list[str]:
    from canned_server import MODEL, CannedServer, stream_prompt
    from floor_model import FloorChatModel
    from langchain_openai import ChatOpenAI

    from langchain_nebula import ChatNebula

    lines = [
        "| model | chunks yielded by .stream() | on_llm_new_token calls seen by a handler |",
        "| --- | ---: | ---: |",
    ]
    with CannedServer() as server:
        models = {
            "lc-floor": FloorChatModel(base_url=server.base_url, api_key="k", model_name=MODEL),
            "ChatNebula": ChatNebula(base_url=server.base_url, api_key="k", model=MODEL),
            "ChatOpenAI": ChatOpenAI(base_url=server.base_url, api_key="k", model=MODEL),
        }
        for name, model in models.items():
            counter = Counter()
            chunks = list(model.stream(stream_prompt(20), config={"callbacks": [counter]}))
            lines.append(f"| {name} | {len(chunks)} | {counter.tokens} |")
            if isinstance(model, FloorChatModel):
                model.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--skip-callbacks", action="store_true")
    args = parser.parse_args()
    versions = ", ".join(
        f"{p} {importlib.metadata.version(p)}"
        for p in ("langchain-core", "pydantic", "pydantic-core")
    )
    print(f"python {sys.version.split()[0]}, {versions}\n")
    print("## model_construct vs validated: equal?\n")
    print("\n".join(equality_report()))
    print(
        f"\n## Cost per chunk pair (AIMessageChunk + ChatGenerationChunk), medians of "
        f"{args.rounds} interleaved rounds\n"
    )
    print("\n".join(cost_report(args.rounds)))
    print(
        f"\n## langchain-core's BaseChatModel.stream per chunk (medians of {args.rounds} rounds)\n"
    )
    print("\n".join(core_loop_report(args.rounds)))
    if not args.skip_callbacks:
        print("\n## on_llm_new_token per chunk during .stream() (20-chunk stream + finish/last)\n")
        print("\n".join(callbacks_report()))


if __name__ == "__main__":
    main()
