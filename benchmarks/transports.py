"""HTTP transports side by side, raw (no LangChain), against the canned server.

Contestants: ``httpx`` 0.28 (what ChatNebula uses; httpcore 1.x underneath),
``httpx2`` (pydantic's continuation, httpcore2 underneath; what openai>=3 uses) and
``aiohttp`` (async only). Every contestant posts the same body with the same headers
and decodes the answer with ``json.loads``; streams are read as raw bytes
(``iter_bytes``/``aiter_bytes``/``content.iter_any``) and checked to be complete.

Figures, in interleaved rounds (the first contestant rotating each round), medians:

* sync / async single-call latency (sequential calls on a warm client);
* a 200-chunk SSE stream, sync and async, bytes iteration;
* ``asyncio.gather`` of N calls on a *fresh* client whose pool was first filled
  (warm connections), for several pool sizes, with and without an
  ``asyncio.Semaphore`` in front of the pool (ChatNebula's trick).

``--memory`` measures, in a fresh process per contestant, the peak RSS growth and
tracemalloc's peak over a gather of 1000 calls. ``--profile`` runs cProfile over one
gather of 1000 calls per contestant and prints where the time goes. Run::

    uv run --locked --group bench --with aiohttp==3.14.5 python benchmarks/transports.py
    uv run --locked --group bench --with aiohttp==3.14.5 python benchmarks/transports.py --quick
    uv run --locked --group bench --with aiohttp==3.14.5 python benchmarks/transports.py --profile

With ``--with httpx-aiohttp==0.2.0``, ``--only httpx,httpx2,aiohttp,httpx+aiohttp,httpx2+aiohttp``
adds httpx's and httpx2's API over aiohttp's pool (the ``httpx-aiohttp`` transport).

Results go to ``benchmarks/results/transports.json`` (raw samples) and are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import importlib.metadata
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from canned_server import MODEL, CannedServer, stream_prompt

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results"
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer bench-key"}
INVOKE_BODY = json.dumps(
    {"model": MODEL, "messages": [{"role": "user", "content": "Say something."}]}
).encode()


def stream_body(chunks: int) -> bytes:
    return json.dumps(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": stream_prompt(chunks)}],
            "stream": True,
        }
    ).encode()


def _content(answer: bytes) -> str:
    return str(json.loads(answer)["choices"][0]["message"]["content"])


# --- contestants ------------------------------------------------------------------


class HttpxLike:
    """httpx 0.28 or httpx2: the same API under another module name."""

    has_sync = True

    def __init__(self, module_name: str, base_url: str) -> None:
        self.mod = __import__(module_name)
        self.url = f"{base_url}/chat/completions"
        self.sync = self.mod.Client(limits=self.limits(100))

    def limits(self, pool: int, keepalive: int | None = None) -> Any:
        return self.mod.Limits(
            max_connections=pool,
            max_keepalive_connections=pool if keepalive is None else keepalive,
        )

    def sync_call(self) -> str:
        response = self.sync.post(self.url, content=INVOKE_BODY, headers=HEADERS)
        response.raise_for_status()
        return _content(response.content)

    def sync_stream(self, body: bytes) -> tuple[int, bytes]:
        size, last, pieces = 0, b"", 0
        with self.sync.stream("POST", self.url, content=body, headers=HEADERS) as response:
            response.raise_for_status()
            for piece in response.iter_bytes():
                size += len(piece)
                last = (last + piece)[-16:]
                pieces += 1
        self.pieces = pieces
        return size, last

    async def new_async(self, pool: int, keepalive: int | None = None) -> Any:
        # Generous timeouts: httpx's default 5 s pool (and connect) timeouts fire for 1000
        # waiters on httpcore 1.x as soon as the process is slowed down (e.g. cProfile).
        timeout = self.mod.Timeout(600.0)
        return self.mod.AsyncClient(limits=self.limits(pool, keepalive), timeout=timeout)

    async def async_call(self, client: Any) -> str:
        response = await client.post(self.url, content=INVOKE_BODY, headers=HEADERS)
        response.raise_for_status()
        return _content(response.content)

    async def async_stream(self, client: Any, body: bytes) -> tuple[int, bytes]:
        size, last, pieces = 0, b"", 0
        async with client.stream("POST", self.url, content=body, headers=HEADERS) as response:
            response.raise_for_status()
            async for piece in response.aiter_bytes():
                size += len(piece)
                last = (last + piece)[-16:]
                pieces += 1
        self.pieces = pieces
        return size, last

    @staticmethod
    def connections(client: Any) -> int:
        return len(client._transport._pool.connections)

    async def aclose(self, client: Any) -> None:
        await client.aclose()

    def close(self) -> None:
        self.sync.close()


class Aiohttp:
    """aiohttp: async only; a ``ClientSession`` over a ``TCPConnector(limit=pool)``."""

    has_sync = False

    def __init__(self, base_url: str) -> None:
        import aiohttp

        self.aiohttp = aiohttp
        self.url = f"{base_url}/chat/completions"

    def sync_call(self) -> str:
        raise NotImplementedError("aiohttp has no sync client")

    def sync_stream(self, body: bytes) -> tuple[int, bytes]:
        raise NotImplementedError("aiohttp has no sync client")

    async def new_async(self, pool: int, keepalive: int | None = None) -> Any:
        # limit_per_host=0: no per-host cap beyond `limit` (all calls go to one host).
        connector = self.aiohttp.TCPConnector(limit=pool, limit_per_host=0)
        return self.aiohttp.ClientSession(connector=connector)

    async def async_call(self, client: Any) -> str:
        async with client.post(self.url, data=INVOKE_BODY, headers=HEADERS) as response:
            response.raise_for_status()
            return _content(await response.read())

    async def async_stream(self, client: Any, body: bytes) -> tuple[int, bytes]:
        size, last, pieces = 0, b"", 0
        async with client.post(self.url, data=body, headers=HEADERS) as response:
            response.raise_for_status()
            async for piece in response.content.iter_any():
                size += len(piece)
                last = (last + piece)[-16:]
                pieces += 1
        self.pieces = pieces
        return size, last

    @staticmethod
    def connections(client: Any) -> int:
        connector = client.connector
        return sum(len(v) for v in connector._conns.values()) + len(connector._acquired)

    async def aclose(self, client: Any) -> None:
        await client.close()

    def close(self) -> None:
        pass


class HttpxOnAiohttp(HttpxLike):
    """httpx's (or httpx2's) API over aiohttp's connection pool, through the
    ``httpx-aiohttp`` 0.2 transport (what ``openai[aiohttp]`` vendors for httpx2).
    Async only: the sync client would be plain httpx."""

    has_sync = False

    def __init__(self, module_name: str, base_url: str) -> None:
        super().__init__(module_name, base_url)
        if module_name == "httpx2":
            from httpx_aiohttp.httpx2 import Httpx2AiohttpClient as client_class
        else:
            from httpx_aiohttp import HttpxAiohttpClient as client_class
        self.client_class = client_class

    async def new_async(self, pool: int, keepalive: int | None = None) -> Any:
        return self.client_class(
            limits=self.limits(pool, keepalive), timeout=self.mod.Timeout(600.0)
        )

    @staticmethod
    def connections(client: Any) -> int:
        return Aiohttp.connections(client._transport.get_client())


def make(name: str, base_url: str) -> HttpxLike | Aiohttp:
    if name == "aiohttp":
        return Aiohttp(base_url)
    if name.endswith("+aiohttp"):
        return HttpxOnAiohttp(name.split("+")[0], base_url)
    return HttpxLike(name, base_url)


def versions() -> dict[str, str]:
    out = {}
    for package in (
        "httpx",
        "httpcore",
        "httpx2",
        "httpcore2",
        "aiohttp",
        "httpx-aiohttp",
        "anyio",
        "h11",
        "yarl",
        "multidict",
        "propcache",
    ):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = "-"
    out["python"] = sys.version.split()[0]
    return out


# --- scenarios --------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    key: str
    label: str
    pool: int
    calls: int
    semaphore: int | None = None
    keepalive: int | None = None  # default: = pool


BATCHES = (
    Batch("gather100_pool100", "gather 100 calls, pool 100 (100 in flight)", 100, 100),
    Batch("gather1000_pool100", "gather 1000 calls, pool 100", 100, 1000),
    Batch("gather1000_pool100_sem", "gather 1000, pool 100, Semaphore(100)", 100, 1000, 100),
    Batch("gather1000_pool20", "gather 1000 calls, pool 20", 20, 1000),
    Batch("gather1000_pool20_sem", "gather 1000, pool 20, Semaphore(20)", 20, 1000, 20),
    Batch(
        "gather1000_pool1000",
        "gather 1000, pool 1000 / keep-alive 100 (openai SDK default)",
        1000,
        1000,
        None,
        100,
    ),
)


async def run_batch(t: Any, client: Any, calls: int, semaphore: int | None) -> list[str]:
    if semaphore:
        slots = asyncio.Semaphore(semaphore)

        async def one() -> str:
            async with slots:
                return await t.async_call(client)
    else:

        def one() -> Awaitable[str]:
            return t.async_call(client)

    return await asyncio.gather(*(one() for _ in range(calls)))


async def timed_batch(t: Any, batch: Batch) -> tuple[float, float, int]:
    """(wall s, client CPU s) for one gather on a fresh client whose pool was filled first."""
    client = await t.new_async(batch.pool, batch.keepalive)
    try:
        await run_batch(t, client, min(batch.pool, batch.calls), None)  # open the pool
        gc.collect()
        cpu = time.process_time()
        start = time.perf_counter()
        results = await run_batch(t, client, batch.calls, batch.semaphore)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        assert len(results) == batch.calls
        assert all(r == results[0] for r in results)
        return elapsed, cpu, t.connections(client)
    finally:
        await t.aclose(client)


# --- rounds -----------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    rounds: int
    batch_rounds: int
    calls: int
    streams: int
    chunks: int = 200


FULL = Settings(rounds=9, batch_rounds=5, calls=300, streams=30)
QUICK = Settings(rounds=2, batch_rounds=1, calls=50, streams=5)


class Samples(dict[str, dict[str, list[float]]]):
    def add(self, key: str, name: str, value: float) -> None:
        self.setdefault(key, {}).setdefault(name, []).append(value)


def run_rounds(
    names: list[str],
    settings: Settings,
    base_url: str,
    batches: tuple[Batch, ...],
    log: Callable[[str], None],
) -> tuple[Samples, dict[str, Any]]:
    samples = Samples()
    extra: dict[str, Any] = {"connections_after": {}}
    loop = asyncio.new_event_loop()
    contestants = {name: make(name, base_url) for name in names}
    body = stream_body(settings.chunks)
    clients = {name: loop.run_until_complete(t.new_async(100)) for name, t in contestants.items()}
    try:
        # Warm-up and agreement checks.
        answers, streams = set(), set()
        for name, t in contestants.items():
            client = clients[name]
            if t.has_sync:
                answers.add(t.sync_call())
                streams.add(t.sync_stream(body))
            answers.add(loop.run_until_complete(t.async_call(client)))
            streams.add(loop.run_until_complete(t.async_stream(client, body)))
        assert len(answers) == 1, answers
        assert len(streams) == 1, [s[0] for s in streams]
        assert next(iter(streams))[1].endswith(b"data: [DONE]\n\n")
        expected_stream = next(iter(streams))
        extra["pieces_per_200_chunk_stream_async"] = {}
        for name, t in contestants.items():
            loop.run_until_complete(t.async_stream(clients[name], body))
            extra["pieces_per_200_chunk_stream_async"][name] = t.pieces
        for round_index in range(settings.rounds):
            started = time.perf_counter()
            shift = round_index % len(names)
            order = names[shift:] + names[:shift]
            for name in order:
                t = contestants[name]
                if not t.has_sync:
                    continue
                gc.collect()
                cpu, start = time.process_time(), time.perf_counter()
                for _ in range(settings.calls):
                    t.sync_call()
                samples.add("sync_call", name, (time.perf_counter() - start) / settings.calls)
                samples.add("sync_call_cpu", name, (time.process_time() - cpu) / settings.calls)
            for name in order:
                t, client = contestants[name], clients[name]

                async def calls(t: Any = t, client: Any = client) -> tuple[float, float]:
                    await t.async_call(client)
                    cpu, start = time.process_time(), time.perf_counter()
                    for _ in range(settings.calls):
                        await t.async_call(client)
                    return (
                        (time.perf_counter() - start) / settings.calls,
                        (time.process_time() - cpu) / settings.calls,
                    )

                gc.collect()
                wall, cpu = loop.run_until_complete(calls())
                samples.add("async_call", name, wall)
                samples.add("async_call_cpu", name, cpu)
            for name in order:
                t = contestants[name]
                if not t.has_sync:
                    continue
                gc.collect()
                cpu, start = time.process_time(), time.perf_counter()
                for _ in range(settings.streams):
                    assert t.sync_stream(body) == expected_stream
                samples.add("sync_stream", name, (time.perf_counter() - start) / settings.streams)
                samples.add("sync_stream_cpu", name, (time.process_time() - cpu) / settings.streams)
            for name in order:
                t, client = contestants[name], clients[name]

                async def streams_(t: Any = t, client: Any = client) -> tuple[float, float]:
                    cpu, start = time.process_time(), time.perf_counter()
                    for _ in range(settings.streams):
                        assert await t.async_stream(client, body) == expected_stream
                    return (
                        (time.perf_counter() - start) / settings.streams,
                        (time.process_time() - cpu) / settings.streams,
                    )

                gc.collect()
                wall, cpu = loop.run_until_complete(streams_())
                samples.add("async_stream", name, wall)
                samples.add("async_stream_cpu", name, cpu)
            if round_index < settings.batch_rounds:
                for batch in batches:
                    for name in order:
                        elapsed, cpu, conns = loop.run_until_complete(
                            timed_batch(contestants[name], batch)
                        )
                        samples.add(batch.key, name, elapsed)
                        samples.add(batch.key + "_cpu", name, cpu)
                        extra["connections_after"].setdefault(batch.key, {}).setdefault(
                            name, []
                        ).append(conns)
            log(
                f"round {round_index + 1}/{settings.rounds} ({time.perf_counter() - started:.1f} s)"
            )
    finally:
        for name, t in contestants.items():
            loop.run_until_complete(t.aclose(clients[name]))
            t.close()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return samples, extra


# --- memory (fresh process per contestant) ----------------------------------------


def _status(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(field)


def _reset_hwm() -> int:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
        clear_refs.write("5")
    return _status("VmRSS")


def memory_child(name: str, base_url: str, semaphore: int | None) -> dict[str, float]:
    t = make(name, base_url)
    loop = asyncio.new_event_loop()

    async def main() -> dict[str, float]:
        client = await t.new_async(100)
        try:
            await run_batch(t, client, 100, None)
            await run_batch(t, client, 1000, semaphore)  # warm every code path
            gc.collect()
            before = _reset_hwm()
            await run_batch(t, client, 1000, semaphore)
            rss = _status("VmHWM") - before
            gc.collect()
            tracemalloc.start()
            try:
                await run_batch(t, client, 1000, semaphore)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            return {"rss_growth": float(rss), "traced_peak": float(peak)}
        finally:
            await t.aclose(client)

    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def run_memory(names: list[str], base_url: str, repeats: int) -> Samples:
    samples = Samples()
    for _ in range(repeats):
        for name in names:
            for semaphore in (None, 100):
                command = [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--memory-child",
                    name,
                    "--base-url",
                    base_url,
                ]
                if semaphore:
                    command += ["--semaphore", str(semaphore)]
                done = subprocess.run(
                    command, capture_output=True, text=True, timeout=600, check=False
                )
                if done.returncode:
                    raise RuntimeError(done.stderr[-3000:])
                suffix = "_sem" if semaphore else ""
                for key, value in json.loads(done.stdout.splitlines()[-1]).items():
                    samples.add(key + suffix, name, value)
    return samples


# --- profile ----------------------------------------------------------------------


def run_profile(names: list[str], base_url: str, semaphore: int | None) -> str:
    out = io.StringIO()
    loop = asyncio.new_event_loop()
    try:
        for name in names:
            t = make(name, base_url)

            async def main(t: Any = t) -> tuple[float, cProfile.Profile]:
                client = await t.new_async(100)
                try:
                    await run_batch(t, client, 100, None)
                    profiler = cProfile.Profile()
                    start = time.perf_counter()
                    profiler.enable()
                    await run_batch(t, client, 1000, semaphore)
                    profiler.disable()
                    return time.perf_counter() - start, profiler
                finally:
                    await t.aclose(client)

            elapsed, profiler = loop.run_until_complete(main())
            stats = pstats.Stats(profiler, stream=out)
            total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
            print(
                f"\n===== {name}: gather 1000 calls, pool 100, semaphore={semaphore}: "
                f"{elapsed:.2f} s wall under cProfile, {total:.2f} s own time =====",
                file=out,
            )
            pool_rows = [
                (func, v)
                for func, v in stats.stats.items()  # type: ignore[attr-defined]
                if "connection_pool" in func[0] or "connector" in func[0]
            ]
            pool_rows.sort(key=lambda kv: -kv[1][3])
            print("pool/connector functions (calls, own s, cumulative s):", file=out)
            for func, (_cc, nc, tt, ct, _callers) in pool_rows[:8]:
                print(
                    f"  {func[2]:<40} {nc:>9,} {tt:8.3f} {ct:8.3f}  "
                    f"{Path(func[0]).parent.name}/{Path(func[0]).name}:{func[1]}",
                    file=out,
                )
            stats.sort_stats("tottime").print_stats(14)
            t.close()
    finally:
        loop.close()
    return out.getvalue()


# --- report -----------------------------------------------------------------------

ROWS = (
    ("sync_call", "sync single call", "µs/call", 1e6),
    ("async_call", "async single call (sequential)", "µs/call", 1e6),
    ("sync_stream", "200-chunk SSE stream, sync, iter_bytes", "ms/stream", 1e3),
    ("async_stream", "200-chunk SSE stream, async, aiter_bytes/iter_any", "ms/stream", 1e3),
    *((b.key, b.label, "ms/batch", 1e3) for b in BATCHES),
)


def table(samples: Samples, names: list[str], rows: Any) -> str:
    lines = [
        "| figure | unit | " + " | ".join(names) + " |",
        "| --- | --- |" + " ---: |" * len(names),
    ]
    for key, label, unit, scale in rows:
        if key not in samples:
            continue
        cells = []
        for name in names:
            values = samples[key].get(name)
            if not values:
                cells.append("n/a")
                continue
            value = statistics.median(values) * scale
            cells.append(f"{value:,.0f}" if value >= 100 else f"{value:.3g}")
        lines.append(f"| {label} | {unit} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--only", help="comma-separated contestants")
    parser.add_argument("--batches", help="comma-separated batch keys")
    parser.add_argument("--memory", action="store_true", help="only the memory runs")
    parser.add_argument("--profile", action="store_true", help="only the cProfile runs")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--semaphore", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(RESULTS / "transports.json"))
    args = parser.parse_args()

    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.base_url, args.semaphore)))
        return

    names = ["httpx", "httpx2", "aiohttp"]
    if args.only:
        names = args.only.split(",")
    settings = QUICK if args.quick else FULL
    if args.rounds:
        settings = Settings(
            args.rounds, min(args.rounds, settings.batch_rounds), settings.calls, settings.streams
        )
    batches = BATCHES
    if args.batches:
        batches = tuple(b for b in BATCHES if b.key in args.batches.split(","))

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    with CannedServer() as server:
        if args.profile:
            for semaphore in (None, 100):
                print(run_profile(names, server.base_url, semaphore))
            return
        if args.memory:
            samples = run_memory(names, server.base_url, 1 if args.quick else 3)
            rows = [
                ("rss_growth", "gather 1000 / pool 100: RSS high-water growth", "MB", 1e-6),
                ("traced_peak", "gather 1000 / pool 100: tracemalloc peak", "MB", 1e-6),
                ("rss_growth_sem", "… with Semaphore(100): RSS high-water growth", "MB", 1e-6),
                ("traced_peak_sem", "… with Semaphore(100): tracemalloc peak", "MB", 1e-6),
            ]
            print(table(samples, names, rows))
            out = Path(args.out).with_name("transports_memory.json")
            out.write_text(json.dumps({"versions": versions(), "samples": samples}, indent=1))
            return
        load = os.getloadavg()[0]
        samples, extra = run_rounds(names, settings, server.base_url, batches, log)
    print(
        f"rounds={settings.rounds} (batches: {settings.batch_rounds}), "
        f"calls/sample={settings.calls}, streams/sample={settings.streams}; "
        f"load {load:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    print(table(samples, names, ROWS))
    print("\nclient CPU time (time.process_time) of the same samples:\n")
    print(
        table(
            samples,
            names,
            [(key + "_cpu", label, "CPU " + unit, scale) for key, label, unit, scale in ROWS],
        )
    )
    print("connections open after each batch:", json.dumps(extra["connections_after"]))
    print("pieces per async 200-chunk stream:", extra["pieces_per_200_chunk_stream_async"])
    print("versions:", versions())
    Path(args.out).write_text(
        json.dumps(
            {"settings": settings.__dict__, "versions": versions(), "samples": samples, **extra},
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
