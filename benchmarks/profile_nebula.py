"""Where ChatNebula's time goes: cProfile of ``invoke`` and a 2000-chunk ``stream``.

Runs against the canned server and prints, per call or per chunk, the profiled time
by package (cProfile inflates everything about 2.5x; compare shares, not totals) and
the functions of ``langchain_nebula`` and ``langchain_core`` that cost the most::

    uv run --group bench python benchmarks/profile_nebula.py [--calls 1000] [--streams 10]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections import Counter
from collections.abc import Callable

from canned_server import MODEL, CannedServer, stream_prompt

from langchain_nebula import ChatNebula

PACKAGES = ("langchain_nebula", "langchain_core", "pydantic", "httpx", "httpcore", "h11", "json")
CHUNKS = 2000


def _package(filename: str, function: str) -> str:
    if filename == "~":  # a builtin: attribute pydantic-core's validators to pydantic
        return "pydantic" if "validate" in function else "builtins"
    for package in PACKAGES:
        if f"/{package}/" in filename:
            return package
    return "other"


def profile(label: str, run: Callable[[], None], units: int, top: int) -> None:
    """Times ``run`` plainly, then profiles it; prints costs per unit."""
    run()  # warm up: pools, lazy imports
    start = time.perf_counter()
    run()
    plain = (time.perf_counter() - start) / units * 1e6
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    by_package: Counter[str] = Counter()
    ours: list[tuple[float, float, str]] = []
    for (filename, line, function), (_, calls, own, cumulative, _) in stats.items():
        package = _package(filename, function)
        by_package[package] += own
        if package in ("langchain_nebula", "langchain_core"):
            where = f"{filename.split(package + '/', 1)[-1]}:{line}({function})"
            ours.append((cumulative, calls, f"{package}/{where}"))
    total = sum(by_package.values())
    print(f"\n== {label}: {plain:.1f} µs unprofiled; profiled {total / units * 1e6:.1f} µs")
    for package, own in by_package.most_common():
        print(f"   {package:18s} {own / units * 1e6:8.2f} µs  {own / total:6.1%}")
    print(f"   top {top} in langchain_nebula / langchain_core (cumulative µs, calls per unit):")
    for cumulative, calls, where in sorted(ours, reverse=True)[:top]:
        print(f"   {cumulative / units * 1e6:8.2f} µs  {calls / units:6.2f}  {where}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=1000, help="invokes to profile")
    parser.add_argument("--streams", type=int, default=10, help="2000-chunk streams")
    parser.add_argument("--top", type=int, default=25, help="functions to list")
    args = parser.parse_args()
    with CannedServer() as server:
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
