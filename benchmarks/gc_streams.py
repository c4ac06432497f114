"""Why a 2000-chunk stream costs more than 10x a 200-chunk one, and what helps.

Each (contestant, GC mode) pair runs in its own fresh process (GC settings are
process-wide), several times, interleaved; inside a process, 200- and 2000-chunk
streams alternate for several rounds. The figure is the median time per stream and the
ratio 2000/200 of the medians; the target is at most 10.5x.

Contestants (all sync ``.stream()``, consumed to the end):

* ``raw httpx``: httpx + ``iter_lines`` + ``json.loads``: no LangChain, no chunk objects.
* ``offline``: a ``BaseChatModel`` whose ``_stream`` builds the same
  ``ChatGenerationChunk(AIMessageChunk(content=...))`` from texts in memory: no I/O.
* ``lc-floor``: ``floor_model.FloorChatModel`` (raw httpx + bare chunks).
* ``lc-floor+construct``: the same, building chunks with ``model_construct`` (equal
  objects: see ``chunk_construction.py``) and no duplicate ``on_llm_new_token``.
* ``ChatNebula``.

GC modes: ``default``; ``freeze`` (``gc.freeze()`` once after imports and warm-up:
process-wide, an application's choice, not a library's); ``disabled`` (``gc.disable()``
for the whole measurement: the no-GC reference).

A diagnostic pass (not timed) counts the collections of each generation and the time
spent in them (``gc.callbacks``) during one 200- and one 2000-chunk stream. Run::

    uv run --locked --group bench python benchmarks/gc_streams.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results"
CONTESTANTS = ("raw httpx", "offline", "lc-floor", "lc-floor+construct", "ChatNebula")
MODES = ("default", "freeze", "disabled")
SHORT, LONG = 200, 2000


# --- child ------------------------------------------------------------------------


def build(name: str, base_url: str) -> Any:
    """Returns ``stream(chunks) -> number of content chunks`` for the contestant."""
    from canned_server import MODEL, stream_prompt

    if name == "raw httpx":
        import httpx
        from floor_model import sse_texts

        client = httpx.Client()
        url = f"{base_url}/chat/completions"

        def raw(chunks: int) -> int:
            body = json.dumps(
                {
                    "model": MODEL,
                    "stream": True,
                    "messages": [{"role": "user", "content": stream_prompt(chunks)}],
                }
            ).encode()
            with client.stream(
                "POST", url, content=body, headers={"Content-Type": "application/json"}
            ) as response:
                return sum(1 for _ in sse_texts(response.iter_lines()))

        return raw

    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessageChunk
    from langchain_core.outputs import ChatGenerationChunk, ChatResult

    if name == "offline":

        class Offline(BaseChatModel):
            @property
            def _llm_type(self) -> str:
                return "offline"

            def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
                raise NotImplementedError

            def _stream(
                self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
            ) -> Iterator[ChatGenerationChunk]:
                chunks = int(str(messages[-1].content).split("=")[1])
                for index in range(chunks):
                    yield ChatGenerationChunk(
                        message=AIMessageChunk(content=f"tok{index} ", id="chatcmpl-canned")
                    )

        model: Any = Offline()
    elif name in ("lc-floor", "lc-floor+construct"):
        from floor_model import FloorChatModel, sse_texts

        if name == "lc-floor+construct":

            class Construct(FloorChatModel):
                def _stream(
                    self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
                ) -> Iterator[ChatGenerationChunk]:
                    # Every field passed: pydantic 2.14's model_construct is ~40x slower
                    # than validation when it has to call default factories itself.
                    args = self._post_args(messages, stream=True)
                    message_construct = AIMessageChunk.model_construct
                    chunk_construct = ChatGenerationChunk.model_construct
                    message_set, chunk_set = {"content"}, {"message", "text"}
                    with self._client.stream("POST", **args) as response:
                        for text in sse_texts(response.iter_lines()):
                            message = message_construct(
                                set(message_set),
                                content=text,
                                additional_kwargs={},
                                response_metadata={},
                                type="AIMessageChunk",
                                name=None,
                                id=None,
                                tool_calls=[],
                                invalid_tool_calls=[],
                                usage_metadata=None,
                                tool_call_chunks=[],
                                chunk_position=None,
                            )
                            yield chunk_construct(
                                set(chunk_set),
                                text=text,
                                generation_info=None,
                                type="ChatGenerationChunk",
                                message=message,
                            )

            model = Construct(base_url=base_url, api_key="k", model_name=MODEL)
        else:
            model = FloorChatModel(base_url=base_url, api_key="k", model_name=MODEL)
    elif name == "ChatNebula":
        from langchain_nebula import ChatNebula

        model = ChatNebula(base_url=base_url, api_key="k", model=MODEL)
    else:
        raise ValueError(name)

    def lc(chunks: int) -> int:
        return sum(1 for c in model.stream(stream_prompt(chunks)) if c.content)

    return lc


def gc_profile(stream: Any, chunks: int, streams: int) -> dict[str, float]:
    """Collections per generation and seconds spent in them, per stream (mean)."""
    stats: dict[str, float] = {}
    started: list[float] = []
    clock = time.process_time  # CPU time: the machine may be shared

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(clock())
        else:
            generation = info["generation"]
            stats[f"gen{generation}_n"] = stats.get(f"gen{generation}_n", 0) + 1
            stats[f"gen{generation}_s"] = stats.get(f"gen{generation}_s", 0.0) + (
                clock() - started.pop()
            )

    gc.callbacks.append(callback)
    try:
        for _ in range(streams):
            stream(chunks)
    finally:
        gc.callbacks.remove(callback)
    return {key: value / streams for key, value in stats.items()}


def child(name: str, mode: str, base_url: str, rounds: int, shorts: int, longs: int) -> dict:
    stream = build(name, base_url)
    for _ in range(3):
        assert stream(SHORT) == SHORT
        assert stream(LONG) == LONG
    if mode == "freeze":
        gc.collect()
        gc.freeze()
    elif mode == "disabled":
        gc.collect()
        gc.disable()
    out: dict[str, Any] = {
        "short": [],
        "long": [],
        "short_cpu": [],
        "long_cpu": [],
        "tracked_objects": len(gc.get_objects()),
    }
    for round_index in range(rounds):
        order = ((SHORT, shorts), (LONG, longs))
        for chunks, count in order if round_index % 2 == 0 else order[::-1]:
            cpu = time.process_time()
            start = time.perf_counter()
            for _ in range(count):
                stream(chunks)
            key = "short" if chunks == SHORT else "long"
            out[key].append((time.perf_counter() - start) / count)
            out[key + "_cpu"].append((time.process_time() - cpu) / count)
    if mode != "disabled":
        out["gc_short"] = gc_profile(stream, SHORT, 2 * shorts)
        out["gc_long"] = gc_profile(stream, LONG, 4 * longs)
    return out


# --- parent -----------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--processes", type=int, help="fresh processes per pair")
    parser.add_argument("--only", help="comma-separated contestants")
    parser.add_argument("--modes", help="comma-separated GC modes")
    parser.add_argument("--child", nargs=2, metavar=("CONTESTANT", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    # A full (gen2) collection comes once every few 2000-chunk streams: each round times
    # enough streams to include some, and the table reports means (amortized cost).
    shorts, longs = (5, 1) if args.quick else (50, 5)
    if args.child:
        result = child(*args.child, args.base_url, 2 if args.quick else args.rounds, shorts, longs)
        print(json.dumps(result))
        return

    from canned_server import CannedServer

    names = args.only.split(",") if args.only else list(CONTESTANTS)
    modes = args.modes.split(",") if args.modes else list(MODES)
    processes = args.processes or (1 if args.quick else 3)
    pairs = [(n, m) for n in names for m in modes]
    results: dict[str, dict[str, Any]] = {}
    load = os.getloadavg()[0]
    with CannedServer() as server:
        for repeat in range(processes):
            shift = repeat % len(pairs)
            for name, mode in pairs[shift:] + pairs[:shift]:
                command = [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--child",
                    name,
                    mode,
                    "--base-url",
                    server.base_url,
                    "--rounds",
                    str(args.rounds),
                ]
                if args.quick:
                    command.append("--quick")
                done = subprocess.run(
                    command, capture_output=True, text=True, timeout=900, check=False
                )
                if done.returncode:
                    raise RuntimeError(done.stderr[-3000:])
                data = json.loads(done.stdout.splitlines()[-1])
                entry = results.setdefault(
                    f"{name} | {mode}",
                    {
                        "short": [],
                        "long": [],
                        "short_cpu": [],
                        "long_cpu": [],
                        "gc_short": [],
                        "gc_long": [],
                    },
                )
                for key in ("short", "long", "short_cpu", "long_cpu"):
                    entry[key] += data[key]
                entry["tracked_objects"] = data["tracked_objects"]
                for key in ("gc_short", "gc_long"):
                    if key in data:
                        entry[key].append(data[key])
            print(f"pass {repeat + 1}/{processes} done", file=sys.stderr, flush=True)
    rounds = 2 if args.quick else args.rounds
    print(
        f"python {sys.version.split()[0]}; {processes} fresh processes per pair x {rounds} "
        f"rounds each ({shorts} x 200-chunk and {longs} x 2000-chunk streams per round); "
        f"means over all streams (a full collection is a rare, large cost: the mean is the "
        f"amortized cost). Load {load:.2f} -> {os.getloadavg()[0]:.2f}\n"
    )
    print("Client CPU time (time.process_time) per stream, then wall time (perf_counter):\n")
    print(
        "| contestant | GC mode | CPU 200, ms | CPU 2000, ms | CPU 2000/200 | "
        "wall 200, ms | wall 2000, ms | wall 2000/200 |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in names:
        for mode in modes:
            entry = results[f"{name} | {mode}"]
            cells = []
            for suffix in ("_cpu", ""):
                short = statistics.fmean(entry["short" + suffix])
                long_ = statistics.fmean(entry["long" + suffix])
                cells += [f"{short * 1e3:.2f}", f"{long_ * 1e3:.1f}", f"{long_ / short:.2f}x"]
            print(f"| {name} | {mode} | " + " | ".join(cells) + " |")
    print(
        f"\nGC per stream (mode default; mean over {2 * shorts} x 200-chunk and {4 * longs} x "
        "2000-chunk streams per process, median over processes): collections per generation, "
        "CPU ms in GC, of which in gen2 (full) collections"
    )
    print(
        "| contestant | heap objects | 200: gen0/gen1/gen2 | 200: CPU ms in GC (gen2) | "
        "2000: gen0/gen1/gen2 | 2000: CPU ms in GC (gen2) |"
    )
    print("| --- | ---: | --- | ---: | --- | ---: |")
    for name in names:
        entry = results.get(f"{name} | default")
        if not entry or not entry["gc_short"]:
            continue
        cells = []
        for key in ("gc_short", "gc_long"):
            runs = entry[key]
            counts = "/".join(
                f"{statistics.median([r.get(f'gen{g}_n', 0) for r in runs]):.2g}" for g in range(3)
            )
            ms = (
                statistics.median([sum(r.get(f"gen{g}_s", 0.0) for g in range(3)) for r in runs])
                * 1e3
            )
            full = statistics.median([r.get("gen2_s", 0.0) for r in runs]) * 1e3
            cells += [counts, f"{ms:.2f} ({full:.2f})"]
        print(f"| {name} | {entry['tracked_objects']:,} | " + " | ".join(cells) + " |")
    out = RESULTS / f"gc_streams_py{sys.version_info[0]}{sys.version_info[1]}.json"
    out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
