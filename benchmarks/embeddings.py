"""Benchmarks NebulaEmbeddings against raw httpx and OpenAIEmbeddings, and base64 vs float.

Part 1, canned server (``canned_server.py``, its own process): embedding 10 000 short
texts, 1000 per request, 1024-dimensional vectors, sync and async:

* ``raw httpx (float)`` / ``raw httpx (base64)``: one ``httpx`` client, the requests
  one after another, ``json.loads``, vectors in ``index`` order (base64 decoded with
  ``binascii`` + ``array``). The floor for the I/O and decoding.
* ``NebulaEmbeddings``: the defaults (base64, ``max_concurrency=4``); also with
  ``encoding_format="float"``, and with ``max_concurrency=1`` (requests one after
  another, like every other contestant).
* ``OpenAIEmbeddings`` (langchain-openai, ``check_embedding_ctx_length=False`` so no
  tiktoken): requests one after another; the openai SDK asks for base64 and decodes
  it with numpy.

Part 2, the real llama.cpp server (``LocalServer(embeddings=True)``, SmolLM2-135M,
576 dimensions, which honours base64): NebulaEmbeddings asking for base64 vs float,
a batch of short texts per call. Skip it with ``--no-llama``.

Every figure is a median over interleaved rounds (each round runs every contestant
once, the first contestant rotating). Every contestant's vectors are checked against
what the server sent before anything is timed. Run::

    uv run --group bench python benchmarks/embeddings.py [--quick] [--no-llama]

Results are printed and written to ``benchmarks/results/embeddings.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import binascii
import gc
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from canned_server import EMBEDDING_DIMENSIONS, MODEL, CannedServer, embedding_vector

from langchain_nebula import NebulaEmbeddings

BENCH_DIR = Path(__file__).resolve().parent
RESULT_FILE = BENCH_DIR / "results" / "embeddings.md"
API_KEY = "bench-key"
HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"}
CHUNK_SIZE = 1000

RAW_FLOAT = "raw httpx (float)"
RAW_BASE64 = "raw httpx (base64)"
NEBULA = "NebulaEmbeddings (defaults: base64, 4 in flight)"
NEBULA_FLOAT = "NebulaEmbeddings float, 4 in flight"
NEBULA_SERIAL = "NebulaEmbeddings base64, 1 in flight"
OPENAI = "OpenAIEmbeddings"


@dataclass(frozen=True)
class Settings:
    rounds: int
    texts: int
    llama_rounds: int
    llama_texts: int


FULL = Settings(rounds=7, texts=10_000, llama_rounds=7, llama_texts=32)
QUICK = Settings(rounds=2, texts=2_000, llama_rounds=2, llama_texts=16)


def short_texts(count: int) -> list[str]:
    return [f"Short document {index} about topic {index % 37}." for index in range(count)]


# --- contestants -----------------------------------------------------------------


def _raw_body(texts: list[str], encoding: str) -> bytes:
    return json.dumps({"model": MODEL, "input": texts, "encoding_format": encoding}).encode()


def _raw_vectors(content: bytes) -> list[list[float]]:
    items = sorted(json.loads(content)["data"], key=lambda item: item["index"])
    vectors = []
    for item in items:
        embedding = item["embedding"]
        if isinstance(embedding, str):
            values = array("f")
            values.frombytes(binascii.a2b_base64(embedding))
            vectors.append(values.tolist())
        else:
            vectors.append(embedding)
    return vectors


class RawHttpx:
    """The floor: one client, requests in sequence, ``json.loads``, nothing else."""

    def __init__(self, base_url: str, encoding: str) -> None:
        self.url = f"{base_url}/embeddings"
        self.encoding = encoding
        self.client = httpx.Client(timeout=120)
        self.async_client: httpx.AsyncClient | None = None

    def embed(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), CHUNK_SIZE):
            body = _raw_body(texts[start : start + CHUNK_SIZE], self.encoding)
            response = self.client.post(self.url, content=body, headers=HEADERS)
            response.raise_for_status()
            vectors.extend(_raw_vectors(response.content))
        return vectors

    async def aembed(self, texts: list[str]) -> list[list[float]]:
        if self.async_client is None:
            self.async_client = httpx.AsyncClient(timeout=120)
        vectors: list[list[float]] = []
        for start in range(0, len(texts), CHUNK_SIZE):
            body = _raw_body(texts[start : start + CHUNK_SIZE], self.encoding)
            response = await self.async_client.post(self.url, content=body, headers=HEADERS)
            response.raise_for_status()
            vectors.extend(_raw_vectors(response.content))
        return vectors


class LangChainEmbeddings:
    """Any ``Embeddings`` through its public API."""

    def __init__(self, embeddings: Any) -> None:
        self.embeddings = embeddings

    def embed(self, texts: list[str]) -> list[list[float]]:
        return self.embeddings.embed_documents(texts)  # type: ignore[no-any-return]

    async def aembed(self, texts: list[str]) -> list[list[float]]:
        return await self.embeddings.aembed_documents(texts)  # type: ignore[no-any-return]


def canned_contestants(base_url: str) -> dict[str, Any]:
    from langchain_openai import OpenAIEmbeddings

    def nebula(**kwargs: Any) -> LangChainEmbeddings:
        return LangChainEmbeddings(
            NebulaEmbeddings(
                base_url=base_url, api_key=API_KEY, model=MODEL, chunk_size=CHUNK_SIZE, **kwargs
            )
        )

    openai = OpenAIEmbeddings(
        model=MODEL,
        base_url=base_url,
        api_key=API_KEY,  # type: ignore[arg-type]
        check_embedding_ctx_length=False,
        chunk_size=CHUNK_SIZE,
        max_retries=0,
    )
    return {
        RAW_FLOAT: RawHttpx(base_url, "float"),
        RAW_BASE64: RawHttpx(base_url, "base64"),
        NEBULA: nebula(),
        NEBULA_FLOAT: nebula(encoding_format="float"),
        NEBULA_SERIAL: nebula(max_concurrency=1),
        OPENAI: LangChainEmbeddings(openai),
    }


# --- measuring -------------------------------------------------------------------


@dataclass
class Samples:
    seconds: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.seconds.setdefault(name, []).append(value)

    def median(self, name: str) -> float:
        return statistics.median(self.seconds[name])


def timed(run: Callable[[], list[list[float]]], expected: int) -> float:
    gc.collect()
    started = time.perf_counter()
    vectors = run()
    elapsed = time.perf_counter() - started
    if len(vectors) != expected:
        msg = f"got {len(vectors)} vectors for {expected} texts"
        raise RuntimeError(msg)
    del vectors
    return elapsed


def check_canned(name: str, vectors: list[list[float]], count: int) -> None:
    """Every contestant must return exactly what the canned server sent, in order."""
    for index in sorted({0, 1, 63, 64, CHUNK_SIZE + 5, count // 2 + 3, count - 1}):
        # The server numbers the inputs of each request from 0.
        if [float(value) for value in vectors[index]] != embedding_vector(index % CHUNK_SIZE):
            msg = f"{name}: vector {index} differs from what the server sent"
            raise RuntimeError(msg)
    if len(vectors) != count or any(len(v) != EMBEDDING_DIMENSIONS for v in vectors):
        msg = f"{name}: wrong number or length of vectors"
        raise RuntimeError(msg)


def run_rounds(
    contestants: dict[str, Any],
    texts: list[str],
    rounds: int,
    loop: asyncio.AbstractEventLoop,
    label: str,
) -> tuple[Samples, Samples]:
    sync, concurrent = Samples(), Samples()
    names = list(contestants)
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            contestant = contestants[name]
            sync.add(name, timed(lambda c=contestant: c.embed(texts), len(texts)))
            concurrent.add(
                name,
                timed(lambda c=contestant: loop.run_until_complete(c.aembed(texts)), len(texts)),
            )
        print(f"  {label} round {number + 1}/{rounds} done", flush=True)
    return sync, concurrent


def canned_part(settings: Settings, loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
    texts = short_texts(settings.texts)
    with CannedServer() as server:
        contestants = canned_contestants(server.base_url)
        for name, contestant in contestants.items():  # warm-up and correctness
            check_canned(name, contestant.embed(texts), len(texts))
            check_canned(name, loop.run_until_complete(contestant.aembed(texts)), len(texts))
        sync, concurrent = run_rounds(contestants, texts, settings.rounds, loop, "canned")
        sizes = {}
        client = httpx.Client(timeout=120)
        for encoding in ("float", "base64"):
            body = _raw_body(texts[:CHUNK_SIZE], encoding)
            answer = client.post(f"{server.base_url}/embeddings", content=body)
            sizes[encoding] = len(answer.content)
        client.close()
    return {"sync": sync, "async": concurrent, "names": list(contestants), "sizes": sizes}


def llama_part(settings: Settings, loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
    from langchain_nebula.local import LocalServer

    texts = short_texts(settings.llama_texts)
    with LocalServer(embeddings=True) as server:
        contestants = {
            f"base64 ({settings.llama_texts} texts)": LangChainEmbeddings(
                NebulaEmbeddings(base_url=server.base_url, api_key=None, encoding_format="base64")
            ),
            f"float ({settings.llama_texts} texts)": LangChainEmbeddings(
                NebulaEmbeddings(base_url=server.base_url, api_key=None, encoding_format="float")
            ),
        }
        first, second = (c.embed(texts) for c in contestants.values())
        if first != second:
            msg = "llama.cpp's base64 and float answers differ"
            raise RuntimeError(msg)
        sync, concurrent = run_rounds(contestants, texts, settings.llama_rounds, loop, "llama.cpp")
        sizes = {}
        with httpx.Client(timeout=600) as client:
            for encoding in ("float", "base64"):
                answer = client.post(
                    f"{server.base_url}/embeddings", content=_raw_body(texts, encoding)
                )
                sizes[encoding] = len(answer.content)
    return {"sync": sync, "async": concurrent, "names": list(contestants), "sizes": sizes}


# --- report ----------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _row(name: str, samples: Samples, floor: float, count: int) -> str:
    median = samples.median(name)
    spread = f"{min(samples.seconds[name]):.3f}-{max(samples.seconds[name]):.3f}"
    return f"| {name} | {median:.3f} | {spread} | {count / median:,.0f} | {median / floor:.2f}x |"


def report(
    settings: Settings,
    canned: dict[str, Any],
    llama: dict[str, Any] | None,
    load: tuple[tuple[float, ...], tuple[float, ...]],
) -> str:
    lines = [
        "# Embeddings benchmark",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; httpx "
        f"{_version('httpx')}, langchain-openai {_version('langchain-openai')}, openai "
        f"{_version('openai')}, numpy {_version('numpy')}. Load average "
        f"{load[0][0]:.2f} at the start, {load[1][0]:.2f} at the end.",
        "",
        "Command: `uv run --group bench python benchmarks/embeddings.py`"
        + (" (`--quick`)" if settings is QUICK else ""),
        "",
        f"## Canned server: {settings.texts:,} short texts, {CHUNK_SIZE} per request, "
        f"{EMBEDDING_DIMENSIONS} dimensions",
        "",
        f"One answer of {CHUNK_SIZE} vectors is {canned['sizes']['float'] / 2**20:.1f} MiB as "
        f"JSON numbers and {canned['sizes']['base64'] / 2**20:.1f} MiB as base64. Medians of "
        f"{settings.rounds} interleaved rounds; ratios against raw httpx asking for floats.",
        "",
    ]
    for mode in ("sync", "async"):
        samples: Samples = canned[mode]
        floor = samples.median(RAW_FLOAT)
        lines += [
            f"### {mode}",
            "",
            "| contestant | median s | min-max s | texts/s | vs raw float |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [_row(name, samples, floor, settings.texts) for name in canned["names"]]
        nebula, openai = samples.median(NEBULA), samples.median(OPENAI)
        lines += [
            "",
            f"- NebulaEmbeddings (defaults) is {openai / nebula:.2f}x as fast as "
            f"OpenAIEmbeddings, and takes {nebula / samples.median(RAW_BASE64):.2f}x the "
            "time of raw httpx asking for base64.",
            f"- Asking for base64 instead of floats: NebulaEmbeddings "
            f"{samples.median(NEBULA_FLOAT) / nebula:.2f}x faster, raw httpx "
            f"{floor / samples.median(RAW_BASE64):.2f}x faster.",
            "",
        ]
    if llama is not None:
        lines += [
            "## llama.cpp (SmolLM2-135M, 576 dimensions, on this machine's CPU)",
            "",
            f"NebulaEmbeddings asking for base64 vs float; {settings.llama_texts} short texts "
            f"per call, medians of {settings.llama_rounds} interleaved rounds. One answer is "
            f"{llama['sizes']['float'] / 1024:.0f} KiB as JSON numbers and "
            f"{llama['sizes']['base64'] / 1024:.0f} KiB as base64: the model's own time "
            "per text, not the transfer, sets the pace here.",
            "",
        ]
        for mode in ("sync", "async"):
            samples = llama[mode]
            names = llama["names"]
            floor = samples.median(names[1])
            lines += [
                f"### {mode}",
                "",
                "| asking for | median s | min-max s | texts/s | vs float |",
                "| --- | --- | --- | --- | --- |",
            ]
            lines += [_row(name, samples, floor, settings.llama_texts) for name in names]
            lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run, under a minute")
    parser.add_argument("--no-llama", action="store_true", help="skip the llama.cpp part")
    parser.add_argument("--output", type=Path, default=RESULT_FILE)
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    for variable in ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGCHAIN_TRACING"):
        os.environ.pop(variable, None)
    load_before = os.getloadavg()
    loop = asyncio.new_event_loop()
    try:
        print(f"canned server: {settings.texts} texts x {settings.rounds} rounds", flush=True)
        canned = canned_part(settings, loop)
        llama = None
        if not args.no_llama:
            print(f"llama.cpp: {settings.llama_texts} texts x {settings.llama_rounds} rounds")
            llama = llama_part(settings, loop)
    finally:
        loop.close()
    text = report(settings, canned, llama, (load_before, os.getloadavg()))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    print(text)
    print(f"\nwritten to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
