"""N concurrent paced streams: what each client costs a chat backend serving many users.

The canned server (its own process) paces every stream like a model generating: one
content chunk per stream every 20 ms, all streams on one clock. N async streams are
opened at once with ``asyncio.gather`` and consumed to the end. Contestants:

* ``raw httpx2`` / ``raw httpx``: ``AsyncClient.stream`` + ``aiter_lines`` +
  ``json.loads``, with a pool of N connections. The floors for the I/O.
* ``lc-floor``: ``floor_model.FloorChatModel.astream`` (raw httpx, bare chunks), pool N.
* ``ChatOpenAI``: as configured by default (openai's pool: 1000 connections).
* ``ChatNebula``: as configured by default (its stream pool: 1000 connections, read
  through asyncio protocols, ``langchain_nebula/_http/network.py``).
* ``ChatNebula (pool N)``: given ``http_async_client=httpx2.AsyncClient(limits=N)``
  (public API): httpx2's own reading path (anyio), with a pool sized for the streams.
* ``ChatNebula (aiohttp)`` (only when named in ``--only``): given
  ``http_async_client=httpx_aiohttp.HttpxAiohttpClient(limits=N)``, httpx's API over
  aiohttp's pool; needs ``--with aiohttp==3.14.5 --with httpx-aiohttp==0.2.0``.

Per (N, tokens) case and contestant, medians over interleaved rounds (the first
contestant rotating each round):

* **CPU µs per chunk**: the client process's CPU time (``time.process_time``) over the
  whole gather, divided by the N x tokens content chunks;
* **wall over the ideal**: the gather's wall time minus tokens x 20 ms, what one stream
  takes at the server's pace (every stream could run at once: the server never queues);
* **p99 added delay**: for each chunk, how late it reached the consumer behind its
  stream's own schedule (the stream's least-delayed chunk sets it: arrival - k x 20 ms,
  minus the minimum over the stream); the 99th percentile over every chunk of the run;
* **memory per stream**: in a separate, untimed pass with ``tracemalloc`` (N streams of
  10 chunks: tracing makes every chunk several times dearer), the peak of traced
  memory during the gather above what was traced before it, divided by N (streams in
  flight, open or queued for a connection). LangChain's ``astream`` also keeps every
  chunk of a stream until it ends, so longer streams hold more;
* **streams per core at 50 tokens/s**: 1 s / (50 x CPU per chunk), derived.

Run::

    uv run --locked --group bench python benchmarks/paced_streams.py [--quick]
    uv run --locked --group bench python benchmarks/paced_streams.py --cases 500x50 \
        --only ChatNebula,lc-floor

Results are printed and written to ``benchmarks/results/paced_streams.md`` and ``.json``
(``--quick``, which skips the memory pass, writes ``paced_streams_quick.*``; ``--out``
names another stem).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import json
import os
import platform
import signal
import statistics
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
import httpx2
from canned_server import MODEL, CannedServer, stream_prompt
from floor_model import FloorChatModel, asse_texts

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PACE_MS = 20
API_KEY = "bench-key"
HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"}
RAW2, RAW, FLOOR, OPENAI, NEBULA, NEBULA_POOL = (
    "raw httpx2",
    "raw httpx",
    "lc-floor",
    "ChatOpenAI",
    "ChatNebula",
    "ChatNebula (pool N)",
)
CONTESTANTS = (RAW2, RAW, FLOOR, OPENAI, NEBULA, NEBULA_POOL)
# Only with --only, and aiohttp + httpx-aiohttp added to the environment (see main's doc).
NEBULA_AIOHTTP = "ChatNebula (aiohttp)"
# About 5 minutes on a shared 2-core machine; add 1000 streams with --cases 1000x50.
FULL_CASES = ((100, 100), (200, 100), (500, 50))
QUICK_CASES = ((100, 50), (300, 20))
MEMORY_TOKENS = 10  # tracemalloc makes each chunk several times dearer
TRACING_VARIABLES = ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGCHAIN_TRACING")


class Contestant(Protocol):
    """What every contestant offers the harness."""

    def astream(self, prompt: str) -> AsyncIterator[str]: ...

    async def aclose(self) -> None: ...


class RawStreams:
    """``AsyncClient.stream`` + ``aiter_lines`` + ``json.loads``: no LangChain at all."""

    def __init__(self, library: Any, base_url: str, connections: int) -> None:
        self._url = f"{base_url}/chat/completions"
        limits = library.Limits(max_connections=connections, max_keepalive_connections=connections)
        self._client = library.AsyncClient(limits=limits, timeout=library.Timeout(60.0))

    async def astream(self, prompt: str) -> AsyncIterator[str]:
        payload = {"model": MODEL, "messages": [{"role": "user", "content": prompt}]}
        body = json.dumps({**payload, "stream": True}).encode()
        async with self._client.stream("POST", self._url, content=body, headers=HEADERS) as r:
            r.raise_for_status()
            async for text in asse_texts(r.aiter_lines()):
                yield text

    async def aclose(self) -> None:
        await self._client.aclose()


class LangChainStreams:
    """Any ``BaseChatModel``, through its public ``astream``."""

    def __init__(self, model: Any, *closers: Callable[[], Any]) -> None:
        self.model = model
        self._closers = closers

    async def astream(self, prompt: str) -> AsyncIterator[str]:
        async for chunk in self.model.astream(prompt):
            if chunk.content:
                yield chunk.content

    async def aclose(self) -> None:
        for close in self._closers:
            await close()


def make_contestant(name: str, base_url: str, connections: int) -> Contestant:
    """Builds ``name`` against the server, with a pool of ``connections`` where it has one."""
    if name in (RAW2, RAW):
        return RawStreams(httpx2 if name == RAW2 else httpx, base_url, connections)
    if name == FLOOR:
        floor = FloorChatModel(
            base_url=base_url, api_key=API_KEY, model_name=MODEL, connections=connections
        )
        return LangChainStreams(floor, floor.aclose)
    if name == OPENAI:
        from langchain_openai import ChatOpenAI

        return LangChainStreams(ChatOpenAI(base_url=base_url, api_key=API_KEY, model=MODEL))
    from langchain_nebula import ChatNebula

    if name == NEBULA:
        return LangChainStreams(ChatNebula(base_url=base_url, api_key=API_KEY, model=MODEL))
    if name == NEBULA_AIOHTTP:
        from httpx_aiohttp import HttpxAiohttpClient

        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        aiohttp_client = HttpxAiohttpClient(limits=limits, timeout=httpx.Timeout(60.0))
        model = ChatNebula(
            base_url=base_url, api_key=API_KEY, model=MODEL, http_async_client=aiohttp_client
        )
        return LangChainStreams(model, aiohttp_client.aclose)
    limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
    client = httpx2.AsyncClient(limits=limits, timeout=httpx2.Timeout(60.0))
    model = ChatNebula(base_url=base_url, api_key=API_KEY, model=MODEL, http_async_client=client)
    return LangChainStreams(model, client.aclose)


async def run_streams(contestant: Contestant, streams: int, tokens: int) -> list[list[float]]:
    """Consumes ``streams`` paced streams at once; returns each one's chunk arrival times."""
    prompt = stream_prompt(tokens, pace_ms=PACE_MS)
    arrivals: list[list[float]] = [[] for _ in range(streams)]
    clock = time.perf_counter

    async def one(times: list[float]) -> None:
        async for _text in contestant.astream(prompt):
            times.append(clock())

    await asyncio.gather(*(one(times) for times in arrivals))
    incomplete = sum(len(times) != tokens for times in arrivals)
    if incomplete:
        msg = f"{incomplete} of {streams} streams did not deliver {tokens} chunks"
        raise RuntimeError(msg)
    return arrivals


def added_delays(arrivals: list[list[float]]) -> list[float]:
    """Per chunk: its lateness behind its stream's own schedule, in seconds."""
    pace = PACE_MS / 1000
    delays: list[float] = []
    for times in arrivals:
        offsets = [arrival - index * pace for index, arrival in enumerate(times)]
        earliest = min(offsets)
        delays.extend(offset - earliest for offset in offsets)
    return delays


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def timed_run(
    loop: asyncio.AbstractEventLoop,
    contestant: Contestant,
    streams: int,
    tokens: int,
    server: CannedServer,
) -> dict[str, float]:
    """One gather of ``streams`` streams: CPU, wall and delays."""
    gc.collect()
    server_cpu = server.cpu_seconds()
    cpu, start = time.process_time(), time.perf_counter()
    arrivals = loop.run_until_complete(run_streams(contestant, streams, tokens))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    server_after = server.cpu_seconds()
    delays = added_delays(arrivals)
    return {
        "cpu_us_per_chunk": cpu / (streams * tokens) * 1e6,
        "wall_over_ideal_s": wall - tokens * PACE_MS / 1000,
        "p99_delay_ms": percentile(delays, 0.99) * 1e3,
        "p50_delay_ms": percentile(delays, 0.50) * 1e3,
        "server_busy": (server_after - server_cpu) / wall
        if server_cpu is not None and server_after is not None
        else float("nan"),
    }


def memory_run(
    loop: asyncio.AbstractEventLoop, contestant: Contestant, streams: int, tokens: int
) -> float:
    """Peak traced bytes per stream during one gather (untimed: tracemalloc is slow)."""
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        loop.run_until_complete(run_streams(contestant, streams, tokens))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - before) / streams


def run_case(
    loop: asyncio.AbstractEventLoop,
    streams: int,
    tokens: int,
    names: tuple[str, ...],
    rounds: int,
    *,
    memory: bool,
    server: CannedServer,
    log: Callable[[str], None],
) -> dict[str, dict[str, list[float]]]:
    """Every contestant at one (N, tokens): warm-up, interleaved rounds, memory pass."""
    contestants = {name: make_contestant(name, server.base_url, streams) for name in names}
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in names}
    try:
        for name in names:  # opens the connections, imports lazily imported code
            loop.run_until_complete(run_streams(contestants[name], streams, min(tokens, 2)))
        for round_index in range(rounds):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                result = timed_run(loop, contestants[name], streams, tokens, server)
                for key, value in result.items():
                    samples[name].setdefault(key, []).append(value)
            log(f"{streams} x {tokens}: round {round_index + 1}/{rounds}")
        if memory:
            for name in names:
                per_stream = memory_run(loop, contestants[name], streams, MEMORY_TOKENS)
                samples[name]["memory_kb_per_stream"] = [per_stream / 1e3]
    finally:
        for contestant in contestants.values():
            loop.run_until_complete(contestant.aclose())
    return samples


COLUMNS = (
    ("cpu_us_per_chunk", "CPU µs/chunk", "{:.0f}"),
    ("cpu_ratio", "CPU x lc-floor", "{:.2f}x"),
    ("wall_over_ideal_s", "wall over ideal, s", "{:.2f}"),
    ("p99_delay_ms", "p99 added delay, ms", "{:.1f}"),
    ("memory_kb_per_stream", "memory/stream, KB", "{:.0f}"),
    ("streams_per_core", "streams/core at 50 tok/s", "{:.0f}"),
)


def summarise(samples: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    """Medians per contestant, plus the CPU ratio to lc-floor (median of per-round ratios)."""
    table: dict[str, dict[str, float]] = {}
    floor_cpu = samples.get(FLOOR, {}).get("cpu_us_per_chunk")
    for name, figures in samples.items():
        row = {key: statistics.median(values) for key, values in figures.items()}
        row["streams_per_core"] = 1e6 / (50 * row["cpu_us_per_chunk"])
        if floor_cpu:
            ratios = [a / b for a, b in zip(figures["cpu_us_per_chunk"], floor_cpu, strict=True)]
            row["cpu_ratio"] = statistics.median(ratios)
        table[name] = row
    return table


def render(results: dict[str, dict[str, dict[str, float]]], meta: dict[str, Any]) -> str:
    lines = [
        f"# Paced streams ({meta['mode']} run, {meta['date']})",
        "",
        f"N concurrent async streams, one chunk per stream every {PACE_MS} ms from the canned "
        f"server (its own process), medians of {meta['rounds']} interleaved rounds. "
        "ChatNebula's stream pool opens up to 1000 connections, as ChatOpenAI's; "
        "the raw clients, lc-floor and `ChatNebula (pool N)` a pool of N.",
        "",
    ]
    for case, table in results.items():
        lines += [
            f"## {case}",
            "",
            "| client | " + " | ".join(label for _, label, _ in COLUMNS) + " |",
            "| --- | " + " | ".join("---:" for _ in COLUMNS) + " |",
        ]
        for name, row in table.items():
            cells = [fmt.format(row[key]) if key in row else "-" for key, _, fmt in COLUMNS]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        busy = max(row.get("server_busy", 0.0) for row in table.values())
        lines += ["", f"Server busy at most {busy:.0%} of a core during a run.", ""]
    lines += [
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".",
        f"Machine: {meta['machine']}; load average (1 min) {meta['load_average'][0]:.1f} "
        f"at the start, {meta['load_average_end'][0]:.1f} at the end.",
        "",
    ]
    return "\n".join(lines)


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("langchain-core", "langchain-openai", "openai", "httpx", "httpx2"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "missing"
    return versions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (< 60 s)")
    parser.add_argument("--rounds", type=int, help="rounds per case (default 2, quick 1)")
    parser.add_argument("--cases", help="NxTOKENS,... (default 100x100,200x100,500x50)")
    parser.add_argument("--only", help="comma-separated contestants")
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the tracemalloc pass (--quick does)"
    )
    parser.add_argument("--out", help="results file stem (default paced_streams[_quick])")
    args = parser.parse_args()
    for variable in TRACING_VARIABLES:  # tracing would measure LangSmith, not the clients
        os.environ.pop(variable, None)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    if args.cases:
        cases = tuple(tuple(int(n) for n in case.split("x")) for case in args.cases.split(","))
    else:
        cases = QUICK_CASES if args.quick else FULL_CASES
    names = tuple(args.only.split(",")) if args.only else CONTESTANTS
    unknown = set(names) - {*CONTESTANTS, NEBULA_AIOHTTP}
    if unknown:
        parser.error(f"unknown contestants {sorted(unknown)}; choose from {CONTESTANTS}")
    rounds = args.rounds or (1 if args.quick else 2)

    def log(message: str) -> None:
        print(f"[paced] {message}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    load_at_start = os.getloadavg()
    raw: dict[str, Any] = {}
    results: dict[str, dict[str, dict[str, float]]] = {}
    stem = args.out or ("paced_streams_quick" if args.quick else "paced_streams")

    def write() -> str:  # after every case, so an interrupted run keeps what it measured
        meta = {
            "mode": "quick" if args.quick else "full",
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "rounds": rounds,
            "versions": _versions(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
            "load_average": load_at_start,
            "load_average_end": os.getloadavg(),
            "seconds": round(time.perf_counter() - started, 1),
        }
        report = render(results, meta)
        RESULTS_DIR.mkdir(exist_ok=True)
        (RESULTS_DIR / f"{stem}.md").write_text(report, encoding="utf-8")
        document = {"meta": meta, "medians": results, "samples": raw}
        path = RESULTS_DIR / f"{stem}.json"
        path.write_text(json.dumps(document, indent=1), encoding="utf-8")
        return report

    # One loop for the whole run: langchain-openai caches its async client per process,
    # bound to the loop that first used it.
    loop = asyncio.new_event_loop()
    with CannedServer() as server:
        for streams, tokens in cases:
            case = f"{streams} streams x {tokens} tokens"
            samples = run_case(
                loop,
                streams,
                tokens,
                names,
                rounds,
                memory=not (args.no_memory or args.quick),
                server=server,
                log=log,
            )
            raw[case] = samples
            results[case] = summarise(samples)
            write()
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    print(write())
    log(f"done in {time.perf_counter() - started:.0f} s; written to {RESULTS_DIR / stem}.md")


if __name__ == "__main__":
    main()
