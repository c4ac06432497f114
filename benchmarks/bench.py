"""Benchmarks ChatNebula against its floors and its peer, on a canned local server.

Contestants, measured interleaved in one process (one round runs each figure for
every contestant in turn, the starting contestant rotating from round to round):

* ``raw httpx``: ``httpx.Client.post`` + ``json.loads``; streams are
  ``client.stream`` + ``iter_lines`` + ``json.loads`` per event. The floor for I/O.
* ``lc-floor``: the least a LangChain integration can do: a ``BaseChatModel`` doing
  the same raw httpx calls and building bare ``AIMessage``/``AIMessageChunk``s.
* ``ChatNebula``.
* ``ChatOpenAI`` (langchain-openai), the peer.

Figures are medians over rounds. Memory (consuming a 10 MiB streamed answer) and
import time are measured in fresh subprocesses. Run::

    uv run --group bench python benchmarks/bench.py [--quick]

Results are printed and written to ``benchmarks/results/latest.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
from canned_server import MODEL, CannedServer, stream_prompt
from floor_model import ASYNC_CONNECTIONS, FloorChatModel, async_client, sse_texts
from langchain_core.language_models import BaseChatModel

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
RAW, FLOOR, NEBULA, OPENAI = "raw httpx", "lc-floor", "ChatNebula", "ChatOpenAI"
CONTESTANTS = (RAW, FLOOR, NEBULA, OPENAI)
API_KEY = "bench-key"
HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"}
INVOKE_PROMPT = "Say something."
# Import statements timed in fresh interpreters; the first four are the table's
# import row. ``langchain_core.language_models`` imports its classes lazily, so the
# bare package import loads almost nothing: the floor an integration actually pays is
# importing ``BaseChatModel`` (and defining a subclass: ``floor_model``).
IMPORTS = {
    RAW: "import httpx",
    FLOOR: "import floor_model",
    NEBULA: "import langchain_nebula",
    OPENAI: "import langchain_openai",
    "core package": "import langchain_core.language_models, httpx",
    "core BaseChatModel": "from langchain_core.language_models import BaseChatModel; import httpx",
}
TRACING_VARIABLES = ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGCHAIN_TRACING")


@dataclass(frozen=True)
class Settings:
    """How much work one run does."""

    rounds: int
    invokes: int  # sync invokes per contestant per round
    short_streams: int  # 200-chunk streams per contestant per round
    long_streams: int  # 2000-chunk streams per contestant per round
    batch_size: int  # calls per abatch
    import_runs: int  # fresh interpreters per import statement
    short_chunks: int = 200
    long_chunks: int = 2000
    big_chunks: int = 10 * 1024  # the long answer: 10240 deltas ...
    big_chunk_bytes: int = 1024  # ... of 1 KiB each: 10 MiB
    concurrency: tuple[int | None, ...] = (None, 64)
    server_check_seconds: float = 1.0
    abatch_rounds: int | None = None  # measure abatch in the first N rounds only

    @property
    def big_mib(self) -> float:
        """Size of the long answer in MiB."""
        return self.big_chunks * self.big_chunk_bytes / 2**20


# abatch of 1000 takes seconds per contestant (httpcore's pool), so it gets 5 rounds.
FULL = Settings(
    rounds=9,
    invokes=200,
    short_streams=20,
    long_streams=4,
    batch_size=1000,
    import_runs=21,
    abatch_rounds=5,
)
# A smoke run: everything once or twice, a 2 MiB long answer.
QUICK = Settings(
    rounds=2,
    invokes=30,
    short_streams=4,
    long_streams=1,
    batch_size=100,
    import_runs=3,
    big_chunks=2 * 1024,
    server_check_seconds=0.5,
)


# --- contestants ------------------------------------------------------------------


def _request_body(prompt: str, *, stream: bool) -> bytes:
    payload: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": prompt}]}
    if stream:
        payload["stream"] = True
    return json.dumps(payload).encode()


class Contestant(Protocol):
    """What every contestant offers the harness."""

    def invoke(self, prompt: str) -> str: ...

    def stream(self, prompt: str) -> Iterator[str]: ...

    async def abatch(self, prompts: list[str], max_concurrency: int | None) -> list[str]: ...

    def close(self, loop: asyncio.AbstractEventLoop | None) -> None: ...


class RawHttpx:
    """The floor: raw httpx calls and ``json.loads``, no LangChain at all."""

    def __init__(self, base_url: str) -> None:
        self._url = f"{base_url}/chat/completions"
        self._client = httpx.Client()
        self._async_client: httpx.AsyncClient | None = None

    def invoke(self, prompt: str) -> str:
        response = self._client.post(
            self._url, content=_request_body(prompt, stream=False), headers=HEADERS
        )
        response.raise_for_status()
        return str(json.loads(response.content)["choices"][0]["message"]["content"])

    def stream(self, prompt: str) -> Iterator[str]:
        body = _request_body(prompt, stream=True)
        with self._client.stream("POST", self._url, content=body, headers=HEADERS) as response:
            response.raise_for_status()
            yield from sse_texts(response.iter_lines())

    async def abatch(self, prompts: list[str], max_concurrency: int | None) -> list[str]:
        if self._async_client is None:
            self._async_client = async_client()
        client = self._async_client
        slots = asyncio.Semaphore(max_concurrency or ASYNC_CONNECTIONS)

        async def one(prompt: str) -> str:
            async with slots:
                body = _request_body(prompt, stream=False)
                response = await client.post(self._url, content=body, headers=HEADERS)
            response.raise_for_status()
            return str(json.loads(response.content)["choices"][0]["message"]["content"])

        return await asyncio.gather(*(one(prompt) for prompt in prompts))

    def close(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._client.close()
        if loop is not None and self._async_client is not None:
            loop.run_until_complete(self._async_client.aclose())


class LangChainContestant:
    """Drives any ``BaseChatModel`` through its public API."""

    def __init__(self, model: BaseChatModel) -> None:
        self.model = model

    def invoke(self, prompt: str) -> str:
        return str(self.model.invoke(prompt).content)

    def stream(self, prompt: str) -> Iterator[str]:
        for chunk in self.model.stream(prompt):
            if chunk.content:
                yield str(chunk.content)

    async def abatch(self, prompts: list[str], max_concurrency: int | None) -> list[str]:
        config = {"max_concurrency": max_concurrency} if max_concurrency else None
        results = await self.model.abatch(prompts, config=config)  # type: ignore[arg-type]
        return [str(message.content) for message in results]

    def close(self, loop: asyncio.AbstractEventLoop | None) -> None:
        if isinstance(self.model, FloorChatModel):
            self.model.close()
            if loop is not None:
                loop.run_until_complete(self.model.aclose())


def make_contestant(name: str, base_url: str) -> Contestant:
    """Builds the contestant called ``name`` against the server at ``base_url``."""
    if name == RAW:
        return RawHttpx(base_url)
    if name == FLOOR:
        return LangChainContestant(
            FloorChatModel(base_url=base_url, api_key=API_KEY, model_name=MODEL)
        )
    if name == NEBULA:
        from langchain_nebula import ChatNebula

        return LangChainContestant(ChatNebula(base_url=base_url, api_key=API_KEY, model=MODEL))
    if name == OPENAI:
        from langchain_openai import ChatOpenAI

        return LangChainContestant(ChatOpenAI(base_url=base_url, api_key=API_KEY, model=MODEL))
    msg = f"unknown contestant {name!r}"
    raise ValueError(msg)


# --- measurements -----------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One row of the results table."""

    key: str
    label: str
    unit: str
    scale: float  # seconds (or bytes) -> unit


FIGURES = (
    Figure("invoke", "invoke, sync", "µs/call", 1e6),
    Figure("stream_short", "stream 200 chunks, sync", "ms/stream", 1e3),
    Figure("stream_long", "stream 2000 chunks, sync", "ms/stream", 1e3),
    Figure("first_chunk", "time to first chunk (200-chunk stream)", "µs", 1e6),
    Figure("abatch_default", "abatch, default max_concurrency", "ms/batch", 1e3),
    Figure("abatch_64", "abatch, max_concurrency=64", "ms/batch", 1e3),
    Figure("memory_peak", "long stream: peak traced memory", "MB", 1e-6),
    Figure("memory_rss", "long stream: RSS high-water growth", "MB", 1e-6),
    Figure("import", "import time (fresh interpreter)", "ms", 1e3),
)


@dataclass
class Samples:
    """Raw samples per figure per contestant (seconds, or bytes for memory)."""

    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def add(self, figure: str, contestant: str, value: float) -> None:
        self.values.setdefault(figure, {}).setdefault(contestant, []).append(value)

    def median(self, figure: str, contestant: str) -> float | None:
        values = self.values.get(figure, {}).get(contestant)
        return statistics.median(values) if values else None


def _expect(condition: bool, what: str) -> None:
    if not condition:
        msg = f"sanity check failed: {what}"
        raise RuntimeError(msg)


def time_invokes(contestant: Contestant, calls: int) -> float:
    """Seconds per ``invoke``, averaged over ``calls``."""
    start = time.perf_counter()
    for _ in range(calls):
        contestant.invoke(INVOKE_PROMPT)
    return (time.perf_counter() - start) / calls


def time_streams(contestant: Contestant, chunks: int, streams: int) -> tuple[float, float]:
    """(seconds per full stream, median seconds to the first content chunk)."""
    prompt = stream_prompt(chunks)
    total = 0.0
    firsts = []
    for _ in range(streams):
        start = time.perf_counter()
        first = 0.0
        received = 0
        for _text in contestant.stream(prompt):
            if not received:
                first = time.perf_counter() - start
            received += 1
        total += time.perf_counter() - start
        firsts.append(first)
        _expect(received == chunks, f"{received} of {chunks} chunks")
    return total / streams, statistics.median(firsts)


def time_abatch(
    loop: asyncio.AbstractEventLoop,
    contestant: Contestant,
    size: int,
    max_concurrency: int | None,
) -> float:
    """Seconds for one ``abatch`` of ``size`` calls."""
    prompts = [INVOKE_PROMPT] * size
    start = time.perf_counter()
    results = loop.run_until_complete(contestant.abatch(prompts, max_concurrency))
    elapsed = time.perf_counter() - start
    _expect(len(results) == size and all(results), "every batched call answered")
    return elapsed


def warm_up(loop: asyncio.AbstractEventLoop, name: str, contestant: Contestant) -> str:
    """Exercises every path once (lazy imports, pools) and checks the answers agree."""
    answer = contestant.invoke(INVOKE_PROMPT)
    for _ in range(20):
        _expect(contestant.invoke(INVOKE_PROMPT) == answer, f"{name}: stable invoke answer")
    texts = list(contestant.stream(stream_prompt(200)))
    _expect(len(texts) == 200 and texts[0] == "tok0 ", f"{name}: 200-chunk stream")
    time_abatch(loop, contestant, 100, None)
    return answer


def run_rounds(
    settings: Settings, server: CannedServer, samples: Samples, log: Callable[[str], None]
) -> dict[str, float]:
    """Runs the interleaved in-process rounds; returns the canned server's load."""
    loop = asyncio.new_event_loop()
    contestants = {name: make_contestant(name, server.base_url) for name in CONTESTANTS}
    try:
        answers = {name: warm_up(loop, name, c) for name, c in contestants.items()}
        _expect(len(set(answers.values())) == 1, "all contestants read the same answer")
        server_load = check_server(server, contestants[RAW], settings.server_check_seconds)
        for round_index in range(settings.rounds):
            started = time.perf_counter()
            shift = round_index % len(CONTESTANTS)
            order = CONTESTANTS[shift:] + CONTESTANTS[:shift]
            for name in order:
                gc.collect()
                samples.add("invoke", name, time_invokes(contestants[name], settings.invokes))
            for name in order:
                gc.collect()
                per_stream, first = time_streams(
                    contestants[name], settings.short_chunks, settings.short_streams
                )
                samples.add("stream_short", name, per_stream)
                samples.add("first_chunk", name, first)
            for name in order:
                gc.collect()
                per_stream, _ = time_streams(
                    contestants[name], settings.long_chunks, settings.long_streams
                )
                samples.add("stream_long", name, per_stream)
            abatch_rounds = settings.abatch_rounds or settings.rounds
            for max_concurrency in settings.concurrency if round_index < abatch_rounds else ():
                key = f"abatch_{max_concurrency or 'default'}"
                for name in order:
                    gc.collect()
                    elapsed = time_abatch(
                        loop, contestants[name], settings.batch_size, max_concurrency
                    )
                    samples.add(key, name, elapsed)
            log(
                f"round {round_index + 1}/{settings.rounds} ({time.perf_counter() - started:.1f} s)"
            )
    finally:
        for contestant in contestants.values():
            contestant.close(loop)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return server_load


def check_server(server: CannedServer, raw: Contestant, seconds: float) -> dict[str, float]:
    """Drives the server with raw httpx for ``seconds`` (per shape); reports its load.

    The client is synchronous, so the server is idle while the client works: a server
    busy for a small share of the wall time is not what limits the figures.
    """
    load: dict[str, float] = {}
    for shape, chunks in (("invoke", 0), ("stream", 2000)):
        cpu_before = server.cpu_seconds()
        start = time.perf_counter()
        calls = 0
        while time.perf_counter() - start < seconds and calls < 100_000:
            if chunks:
                _expect(sum(1 for _ in raw.stream(stream_prompt(chunks))) == chunks, "stream")
            else:
                raw.invoke(INVOKE_PROMPT)
            calls += 1
        elapsed = time.perf_counter() - start
        cpu_after = server.cpu_seconds()
        busy = (cpu_after - cpu_before) / elapsed if cpu_after and cpu_before else float("nan")
        load[f"raw_{shape}_per_second"] = calls * max(chunks, 1) / elapsed
        load[f"server_busy_{shape}"] = busy
    return load


def _proc_status_bytes(field_name: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1]) * 1024
    msg = f"{field_name} not in /proc/self/status"
    raise OSError(msg)


def _reset_peak_rss() -> int:
    """Resets the RSS high-water mark where Linux allows; returns the baseline."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
        return _proc_status_bytes("VmRSS")
    except OSError:  # not Linux: the growth of the lifetime peak (may read 0)
        return _max_rss()


def _peak_rss() -> int:
    try:
        return _proc_status_bytes("VmHWM")
    except OSError:
        return _max_rss()


def _max_rss() -> int:
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def memory_child(name: str, base_url: str, chunks: int, chunk_bytes: int) -> dict[str, float]:
    """In a fresh process: consume the long stream, discarding it; report memory.

    The RSS high-water growth is taken first, untraced; then tracemalloc's peak over a
    second run. Both exclude the interpreter, imports and the warmed-up client.
    """
    contestant = make_contestant(name, base_url)
    prompt = stream_prompt(chunks, chunk_bytes)
    _expect(sum(1 for _ in contestant.stream(stream_prompt(50))) == 50, "warm-up stream")

    def consume() -> int:
        return sum(len(text) for text in contestant.stream(prompt))

    gc.collect()
    rss_before = _reset_peak_rss()
    size = consume()
    rss_growth = _peak_rss() - rss_before
    _expect(size == chunks * chunk_bytes, f"{size} bytes of {chunks * chunk_bytes}")
    gc.collect()
    tracemalloc.start()
    try:
        consume()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    contestant.close(None)
    return {"memory_peak": float(peak), "memory_rss": float(rss_growth)}


def run_memory(settings: Settings, server: CannedServer, samples: Samples) -> None:
    """One fresh subprocess per contestant (see ``memory_child``)."""
    for name in CONTESTANTS:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--memory-child",
            name,
            "--base-url",
            server.base_url,
            "--big",
            f"{settings.big_chunks}x{settings.big_chunk_bytes}",
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            msg = f"memory run for {name} failed:\n{done.stderr[-2000:]}"
            raise RuntimeError(msg)
        for key, value in json.loads(done.stdout.splitlines()[-1]).items():
            samples.add(key, name, value)


def run_imports(settings: Settings, samples: Samples) -> None:
    """Times each import statement in fresh interpreters, interleaved.

    Bytecode is cached (in a temporary directory, so nothing is written beside the
    sources) and the first pass only fills that cache: the figures are warm imports,
    as users see them, even where ``PYTHONDONTWRITEBYTECODE`` is set.
    """
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as cache:
        env = {**os.environ, "PYTHONPYCACHEPREFIX": cache}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for run in range(settings.import_runs + 1):
            _time_imports(env, samples, record=run > 0)


def _time_imports(env: dict[str, str], samples: Samples, *, record: bool) -> None:
    for name, statement in IMPORTS.items():
        code = (
            f"import sys, time; sys.path.insert(0, {str(BENCH_DIR)!r}); "
            f"start = time.perf_counter(); {statement}; print(time.perf_counter() - start)"
        )
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
            env=env,
        )
        if record:
            samples.add("import", name, float(done.stdout))


# --- report -----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One stated goal and whether the run met it."""

    label: str
    measured: str
    passed: bool


def _ratio(samples: Samples, figure: str, top: str, bottom: str) -> float | None:
    numerator, denominator = samples.median(figure, top), samples.median(figure, bottom)
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def check_targets(samples: Samples, settings: Settings) -> list[Target]:
    """Evaluates the issue's performance targets for ChatNebula."""
    targets = []

    def limit(label: str, value: float | None, bound: float, *, at_least: bool = False) -> None:
        if value is None:
            targets.append(Target(label, "not measured", passed=False))
            return
        passed = value >= bound if at_least else value <= bound
        targets.append(Target(label, f"{value:.3f}x", passed))

    limit("invoke ≤ 1.10x lc-floor", _ratio(samples, "invoke", NEBULA, FLOOR), 1.10)
    for key, size in (("stream_short", 200), ("stream_long", 2000)):
        limit(f"{size}-chunk stream ≤ 1.25x lc-floor", _ratio(samples, key, NEBULA, FLOOR), 1.25)
        limit(
            f"{size}-chunk stream ≥ 5x faster than ChatOpenAI",
            _ratio(samples, key, OPENAI, NEBULA),
            5.0,
            at_least=True,
        )
    limit(
        "import ≤ 1.05x the lc-floor's (`import floor_model`)",
        _ratio(samples, "import", NEBULA, FLOOR),
        1.05,
    )
    limit(
        "abatch of 1000, default max_concurrency, ≥ 1.2x faster than ChatOpenAI",
        _ratio(samples, "abatch_default", OPENAI, NEBULA),
        1.2,
        at_least=True,
    )
    long_cost, short_cost = (
        samples.median("stream_long", NEBULA),
        samples.median("stream_short", NEBULA),
    )
    limit(
        "2000-chunk stream ≤ 10.5x the 200-chunk stream",
        long_cost / short_cost if long_cost and short_cost else None,
        10.5,
    )
    peak, floor_peak = samples.median("memory_peak", NEBULA), samples.median("memory_peak", FLOOR)
    label = f"{settings.big_mib:g} MiB stream: peak memory ≤ 1.25x lc-floor's"
    if peak is None or not floor_peak:
        targets.append(Target(label, "not measured", passed=False))
    else:
        # LangChain's stream() keeps every chunk to report the merged message at the end,
        # so any integration holds O(answer); ours must add no more than a fraction.
        measured = (
            f"{peak / 1e6:.1f} MB, {peak / floor_peak:.2f}x lc-floor's {floor_peak / 1e6:.1f}"
        )
        targets.append(Target(label, measured, peak <= 1.25 * floor_peak))
    return targets


def _cell(value: float | None, scale: float) -> str:
    if value is None:
        return "-"
    scaled = value * scale
    return f"{scaled:,.0f}" if scaled >= 100 else f"{scaled:.3g}"


def _ratio_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


RATIO_COLUMNS = (
    (FLOOR, RAW),
    (NEBULA, RAW),
    (NEBULA, FLOOR),
    (NEBULA, OPENAI),
    (OPENAI, RAW),
    (OPENAI, FLOOR),
)


def render(
    samples: Samples,
    targets: list[Target],
    settings: Settings,
    meta: dict[str, Any],
) -> str:
    """The Markdown report."""
    lines = [
        f"# langchain-nebula benchmark ({meta['mode']} run, {meta['date']})",
        "",
        f"Medians of {settings.rounds} interleaved rounds (abatch: "
        f"{min(settings.abatch_rounds or settings.rounds, settings.rounds)} rounds of "
        f"{settings.batch_size} calls); memory and import in fresh processes "
        f"({settings.import_runs} imports each).",
        "",
        "| figure | unit | " + " | ".join(CONTESTANTS) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in CONTESTANTS) + " |",
    ]
    for figure in FIGURES:
        cells = [_cell(samples.median(figure.key, name), figure.scale) for name in CONTESTANTS]
        lines.append(f"| {figure.label} | {figure.unit} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Ratios of medians (lower is better for the first name):",
        "",
        "| figure | " + " | ".join(f"{top} / {bottom}" for top, bottom in RATIO_COLUMNS) + " |",
        "| --- | " + " | ".join("---:" for _ in RATIO_COLUMNS) + " |",
    ]
    for figure in FIGURES:
        cells = [
            _ratio_cell(_ratio(samples, figure.key, top, bottom)) for top, bottom in RATIO_COLUMNS
        ]
        lines.append(f"| {figure.label} | " + " | ".join(cells) + " |")
    floor_import = samples.median("import", FLOOR)
    lines += [
        "",
        "Import time, median of fresh interpreters (the table's row uses the first four):",
        "",
        "| statement | ms | x lc-floor |",
        "| --- | ---: | ---: |",
    ]
    for name, statement in IMPORTS.items():
        value = samples.median("import", name)
        ratio = value / floor_import if value and floor_import else None
        lines.append(f"| `{statement}` | {_cell(value, 1e3)} | {_ratio_cell(ratio)} |")
    lines += ["", "Targets (ChatNebula):", ""]
    lines += [
        f"- {'PASS' if t.passed else 'FAIL'}: {t.label} (measured {t.measured})" for t in targets
    ]
    load = meta["server"]
    lines += [
        "",
        f"Canned server check (its own process): raw httpx made "
        f"{load['raw_invoke_per_second']:,.0f} invokes/s with the server busy "
        f"{load['server_busy_invoke']:.0%} of the time, and read "
        f"{load['raw_stream_per_second']:,.0f} stream chunks/s with it busy "
        f"{load['server_busy_stream']:.0%}: the client, not the server, sets the pace.",
        f"The long stream is {settings.big_chunks} deltas of {settings.big_chunk_bytes} bytes "
        f"({settings.big_mib:g} MiB), consumed and discarded. abatch figures are dominated by "
        "httpcore 1.x's connection-pool bookkeeping (ChatOpenAI uses its own httpx2/httpcore2) "
        "and vary a lot from round to round; see the samples in latest.json.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".",
        f"Machine: {meta['machine']}; load average (1 min) {meta['load_average']['start'][0]:.1f} "
        f"at the start, {meta['load_average']['end'][0]:.1f} at the end.",
        "",
    ]
    return "\n".join(lines)


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    packages = ("langchain-nebulablock", "langchain-core", "langchain-openai", "openai", "httpx")
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "missing"
    versions["pydantic"] = importlib.metadata.version("pydantic")
    return versions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (< 60 s)")
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--big", help=argparse.SUPPRESS)
    args = parser.parse_args()
    for variable in TRACING_VARIABLES:  # tracing would measure LangSmith, not us
        os.environ.pop(variable, None)
    if args.memory_child:
        chunks, chunk_bytes = (int(part) for part in args.big.split("x"))
        result = memory_child(args.memory_child, args.base_url, chunks, chunk_bytes)
        print(json.dumps(result))
        return

    # SIGTERM unwinds like Ctrl-C, so the canned server is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    settings = QUICK if args.quick else FULL
    if args.rounds:
        settings = Settings(**{**settings.__dict__, "rounds": max(1, args.rounds)})

    def log(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    load_at_start = os.getloadavg()
    samples = Samples()
    with CannedServer() as server:
        log(f"canned server pid {server.pid} at {server.base_url}")
        server_load = run_rounds(settings, server, samples, log)
        log(f"memory (fresh processes) at {time.perf_counter() - started:.0f} s")
        run_memory(settings, server, samples)
    log(f"import time (fresh processes) at {time.perf_counter() - started:.0f} s")
    run_imports(settings, samples)
    meta = {
        "mode": "quick" if args.quick else "full",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": _versions(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "load_average": {"start": load_at_start, "end": os.getloadavg()},
        "server": server_load,
        "settings": settings.__dict__,
        "seconds": round(time.perf_counter() - started, 1),
    }
    targets = check_targets(samples, settings)
    report = render(samples, targets, settings, meta)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "latest.md").write_text(report, encoding="utf-8")
    medians = {
        figure.key: {name: samples.median(figure.key, name) for name in CONTESTANTS}
        for figure in FIGURES
    }
    document = {
        "meta": meta,
        "medians": medians,
        "targets": [t.__dict__ for t in targets],
        "samples": samples.values,
    }
    (RESULTS_DIR / "latest.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    print(report)
    log(f"done in {meta['seconds']} s; written to {RESULTS_DIR / 'latest.md'}")


if __name__ == "__main__":
    main()
