"""Where ChatNebula's time goes: cProfile of its calls and streams on the canned server.

Prints, per call or per chunk, the profiled time by package (cProfile inflates
everything about 2.5x; compare shares, not totals), the functions that cost the most
on their own, and the costliest functions of ``langchain_nebula`` and
``langchain_core`` (cumulative)::

    uv run --group bench python benchmarks/profile_nebula.py [--calls 1000] [--streams 10]
    uv run --group bench python benchmarks/profile_nebula.py --paced 500x50 [--pool 500]
    uv run --group bench python benchmarks/profile_nebula.py --after-openai

* default: ``invoke`` and a 2000-chunk sync ``stream``;
* ``--paced NxT``: N concurrent async streams of T chunks paced at 20 ms (as
  ``paced_streams.py``), on the shared pool or, with ``--pool``, on a user-built
  ``httpx2.AsyncClient`` of that many connections. Time waiting in the event loop's
  ``epoll`` is left out of the totals;
* ``--after-openai``: the sync 200-chunk stream of ChatNebula (shared httpx2 client,
  and given a plain ``httpx.Client``) and of the lc-floor, timed right before and
  right after a ChatOpenAI stream in the same process, interleaved, with the full
  garbage collections that land in each; then ChatNebula's stream profiled in each
  position.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import httpx2
from canned_server import MODEL, CannedServer, stream_prompt
from floor_model import FloorChatModel

from langchain_nebula import ChatNebula

PACKAGES = (
    "langchain_nebula",
    "langchain_core",
    "langchain_openai",
    "openai",
    "pydantic",
    "httpx2",
    "httpcore2",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "asyncio",
    "json",
)
IDLE = "idle (epoll wait)"
CHUNKS = 2000
PACE_MS = 20


def _package(filename: str, function: str) -> str:
    if filename == "~":  # a builtin: attribute pydantic-core's validators to pydantic
        if "poll" in function and "epoll" in function:
            return IDLE
        return "pydantic" if "validate" in function else "builtins"
    for package in PACKAGES:
        if f"/{package}/" in filename:
            return package
    return "other"


def _where(filename: str, line: int, function: str) -> str:
    for package in PACKAGES:
        if f"/{package}/" in filename:
            return f"{package}/{filename.split(f'/{package}/', 1)[1]}:{line}({function})"
    return f"{filename.rsplit('/', 1)[-1]}:{line}({function})"


def report(label: str, profiler: cProfile.Profile, units: int, top: int, plain: float) -> None:
    """Prints the profile per unit: by package, by own time, and ours cumulatively."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    by_package: Counter[str] = Counter()
    own_time: list[tuple[float, float, str]] = []
    ours: list[tuple[float, float, str]] = []
    for (filename, line, function), (_, calls, own, cumulative, _) in stats.items():
        package = _package(filename, function)
        by_package[package] += own
        if package == IDLE:
            continue
        where = _where(filename, line, function)
        own_time.append((own, calls, where))
        if package in ("langchain_nebula", "langchain_core"):
            ours.append((cumulative, calls, where))
    idle = by_package.pop(IDLE, 0.0)
    total = sum(by_package.values())
    print(f"\n== {label}: {plain:.1f} µs unprofiled; profiled {total / units * 1e6:.1f} µs", end="")
    print(f" (+ {idle / units * 1e6:.1f} µs waiting in epoll)" if idle else "")
    for package, own in by_package.most_common():
        print(f"   {package:18s} {own / units * 1e6:8.2f} µs  {own / total:6.1%}")
    print(f"   top {top} functions by own time (µs, calls per unit):")
    for own, calls, where in sorted(own_time, reverse=True)[:top]:
        print(f"   {own / units * 1e6:8.2f} µs  {calls / units:6.2f}  {where}")
    print(f"   top {top} in langchain_nebula / langchain_core (cumulative µs, calls per unit):")
    for cumulative, calls, where in sorted(ours, reverse=True)[:top]:
        print(f"   {cumulative / units * 1e6:8.2f} µs  {calls / units:6.2f}  {where}")


def profile(label: str, run: Callable[[], None], units: int, top: int) -> None:
    """Times ``run`` plainly (CPU time), then profiles it; prints costs per unit."""
    run()  # warm up: pools, lazy imports
    start = time.process_time()
    run()
    plain = (time.process_time() - start) / units * 1e6
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    report(label, profiler, units, top, plain)


def paced(base_url: str, shape: str, pool: int | None, top: int) -> None:
    """N concurrent paced async streams through ChatNebula, profiled per chunk."""
    streams, tokens = (int(part) for part in shape.split("x"))
    prompt = stream_prompt(tokens, pace_ms=PACE_MS)
    loop = asyncio.new_event_loop()
    client = None
    if pool:
        limits = httpx2.Limits(max_connections=pool, max_keepalive_connections=pool)
        client = httpx2.AsyncClient(limits=limits, timeout=httpx2.Timeout(60.0))
    model = ChatNebula(base_url=base_url, api_key="k", model=MODEL, http_async_client=client)

    async def one() -> None:
        async for _chunk in model.astream(prompt):
            pass

    async def all_streams() -> None:
        await asyncio.gather(*(one() for _ in range(streams)))

    def run() -> None:
        loop.run_until_complete(all_streams())

    pool_label = f"a pool of {pool}" if pool else "the shared pool (100)"
    profile(
        f"{streams} paced streams x {tokens}, {pool_label}, per chunk", run, streams * tokens, top
    )
    if client is not None:
        loop.run_until_complete(client.aclose())
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


class _FullCollections:
    """Counts generation-2 collections and their time while installed."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.count += 1
            self.seconds += time.perf_counter() - self._start


def after_openai(base_url: str, rounds: int, block: int, top: int) -> None:
    """The sync 200-chunk stream right before and right after ChatOpenAI's.

    Each position runs ``block`` streams in a row after a ``gc.collect()`` (``bench.py``
    runs 20 per contestant, one contestant after another); figures are per stream.
    """
    from langchain_openai import ChatOpenAI

    prompt = stream_prompt(200)
    models: dict[str, Any] = {
        "ChatNebula (httpx2, shared)": ChatNebula(base_url=base_url, api_key="k", model=MODEL),
        "ChatNebula (httpx.Client)": ChatNebula(
            base_url=base_url, api_key="k", model=MODEL, http_client=httpx.Client()
        ),
        "lc-floor": FloorChatModel(base_url=base_url, api_key="k", model_name=MODEL),
    }
    openai = ChatOpenAI(base_url=base_url, api_key="k", model=MODEL)

    def stream(model: Any) -> None:
        for _chunk in model.stream(prompt):
            pass

    for model in (*models.values(), openai):
        stream(model)
    times: dict[tuple[str, str], list[float]] = {}
    walls: dict[tuple[str, str], list[float]] = {}
    collections = {key: _FullCollections() for key in ("before", "after")}
    for round_index in range(rounds):
        names = list(models)
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            for position in ("before", "after"):
                if position == "after":
                    gc.collect()
                    for _ in range(block):
                        stream(openai)
                gc.collect()
                gc.callbacks.append(collections[position])
                start, wall = time.process_time(), time.perf_counter()
                for _ in range(block):
                    stream(models[name])
                elapsed, wall = time.process_time() - start, time.perf_counter() - wall
                gc.callbacks.remove(collections[position])
                times.setdefault((name, position), []).append(elapsed / block)
                walls.setdefault((name, position), []).append(wall / block)
                if position == "before":  # "before" follows another stream, as in bench.py
                    gc.collect()
                    for _ in range(block):
                        stream(openai)
    for kind, samples in (("CPU", times), ("wall", walls)):
        floor = {p: statistics.median(samples[("lc-floor", p)]) for p in ("before", "after")}
        print(f"\n== 200-chunk sync stream, {kind} ms (median of {rounds}), x lc-floor in place")
        print("| stream | before ChatOpenAI's | after ChatOpenAI's |")
        print("| --- | ---: | ---: |")
        for name in models:
            cells = []
            for position in ("before", "after"):
                value = statistics.median(samples[(name, position)])
                cells.append(f"{value * 1e3:.2f} ({value / floor[position]:.2f}x)")
            print(f"| {name} | {cells[0]} | {cells[1]} |")
    for position, counter in collections.items():
        print(
            f"   full collections during the streams {position} ChatOpenAI's: {counter.count} "
            f"in {len(models) * rounds * block} streams, {counter.seconds * 1e3:.1f} ms in all"
        )
    nebula = models["ChatNebula (httpx2, shared)"]
    for position in ("before", "after"):
        profiler = cProfile.Profile()
        for _ in range(rounds):
            stream(openai if position == "after" else nebula)
            profiler.enable()
            stream(nebula)
            profiler.disable()
        plain = statistics.median(times[("ChatNebula (httpx2, shared)", position)]) / 200
        label = f"ChatNebula 200-chunk stream {position} ChatOpenAI's, per chunk"
        report(label, profiler, rounds * 200, top, plain * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=1000, help="invokes to profile")
    parser.add_argument("--streams", type=int, default=10, help="2000-chunk streams")
    parser.add_argument("--top", type=int, default=25, help="functions to list")
    parser.add_argument("--paced", help="NxT: profile N concurrent paced streams of T chunks")
    parser.add_argument("--pool", type=int, help="with --paced: a user-built pool of this size")
    parser.add_argument("--after-openai", action="store_true", help="the httpx2 interaction")
    parser.add_argument("--rounds", type=int, default=30, help="with --after-openai")
    parser.add_argument("--block", type=int, default=1, help="with --after-openai: streams")
    args = parser.parse_args()
    with CannedServer() as server:
        if args.paced:
            paced(server.base_url, args.paced, args.pool, args.top)
            return
        if args.after_openai:
            after_openai(server.base_url, args.rounds, args.block, args.top)
            return
        model = ChatNebula(base_url=server.base_url, api_key="bench-key", model=MODEL)
        prompt = stream_prompt(CHUNKS)

        def invokes() -> None:
            for _ in range(args.calls):
                model.invoke("Say something.")

        def streams() -> None:
            for _ in range(args.streams):
                for _chunk in model.stream(prompt):
                    pass

        profile("invoke, per call", invokes, args.calls, args.top)
        profile(f"{CHUNKS}-chunk stream, per chunk", streams, args.streams * CHUNKS, args.top)


if __name__ == "__main__":
    main()
