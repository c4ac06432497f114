"""``abatch`` of 1000 calls through LangChain, per transport, against the canned server.

Reproduces bench.py's ``abatch, default max_concurrency`` figure and shows what each
contestant's HTTP stack is. Groups run in fresh processes, alternating, each doing a
warm-up batch and then interleaved rounds (the client and its pool persist across
rounds, as in bench.py):

* ``stock``: lc-floor, ChatNebula and ChatOpenAI as installed (httpx 0.28 for the first
  two, whatever the openai SDK uses for ChatOpenAI);
* ``alias``: the same three in a process that called ``httpx2.alias_httpx()`` first, so
  ``import httpx`` gives httpx2: what ChatNebula would do on httpx2, without changing a
  line of it (ChatOpenAI is unaffected: openai>=3 imports httpx2 itself), so ChatNebula
  on httpx2 and ChatOpenAI are compared within one process;
* ``aiohttp`` (needs ``--with aiohttp==3.14.5 --with httpx-aiohttp==0.2.0``): ChatNebula
  as installed, ChatNebula given ``http_async_client=httpx_aiohttp.HttpxAiohttpClient(...)``
  (an ``httpx.AsyncClient`` doing its I/O with aiohttp; 100 connections), and ChatOpenAI.

Run::

    uv run --locked --group bench python benchmarks/langchain_batch.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
GROUPS = {
    "stock": ("lc-floor", "ChatNebula", "ChatOpenAI"),
    "alias": ("lc-floor", "ChatNebula", "ChatOpenAI"),
    "aiohttp": ("ChatNebula", "ChatNebula+aiohttp-transport", "ChatOpenAI"),
}


def _pool_of(client: Any) -> Any:
    transport = getattr(client, "_transport", None)
    return getattr(transport, "_pool", None)


def describe(name: str, model: Any) -> dict[str, Any]:
    """Which HTTP stack the model's async path uses (after a batch)."""
    if name == "ChatOpenAI":
        client = model.root_async_client._client
    elif name == "ChatNebula+aiohttp-transport":
        client = model.http_async_client
        connector = client._transport.get_client().connector
        return {
            "client": f"{type(client).__module__}.{type(client).__qualname__}",
            "pool": f"{type(connector).__module__}.{type(connector).__qualname__}",
            "max_connections": connector.limit,
            "max_keepalive": None,
            "connections_now": sum(len(v) for v in connector._conns.values())
            + len(connector._acquired),
        }
    elif name == "lc-floor":
        client = model._async_client
    else:
        import langchain_nebula._http.transport as _transport

        pools = [
            pool for per_loop in _transport._async_clients.values() for pool in per_loop.values()
        ]
        client = pools[0].client if pools else None
    pool = _pool_of(client)
    return {
        "client": f"{type(client).__module__}.{type(client).__qualname__}",
        "pool": f"{type(pool).__module__}.{type(pool).__qualname__}" if pool else None,
        "max_connections": getattr(pool, "_max_connections", None),
        "max_keepalive": getattr(pool, "_max_keepalive_connections", None),
        "connections_now": len(pool.connections) if pool is not None else None,
    }


def child(group: str, base_url: str, rounds: int, size: int) -> dict[str, Any]:
    if group == "alias":
        import httpx2

        httpx2.alias_httpx()
    sys.path.insert(0, str(BENCH_DIR))
    import httpx
    from canned_server import MODEL
    from floor_model import FloorChatModel

    from langchain_nebula import ChatNebula

    models: dict[str, Any] = {}
    if group != "aiohttp":
        models["lc-floor"] = FloorChatModel(base_url=base_url, api_key="k", model_name=MODEL)
    models["ChatNebula"] = ChatNebula(base_url=base_url, api_key="k", model=MODEL)
    if group == "aiohttp":
        from httpx_aiohttp import HttpxAiohttpClient

        user_client = HttpxAiohttpClient(
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
            timeout=httpx.Timeout(600.0, connect=5.0),
        )
        models["ChatNebula+aiohttp-transport"] = ChatNebula(
            base_url=base_url, api_key="k", model=MODEL, http_async_client=user_client
        )
    from langchain_openai import ChatOpenAI

    models["ChatOpenAI"] = ChatOpenAI(base_url=base_url, api_key="k", model=MODEL)
    loop = asyncio.new_event_loop()
    out: dict[str, Any] = {
        "httpx_module": f"{httpx.__name__} {httpx.__version__}",
        "samples": {},
        "connections_after": {},
    }
    prompts = ["Say something."] * size

    async def batch(model: Any) -> float:
        start = time.perf_counter()
        results = await model.abatch(prompts)
        elapsed = time.perf_counter() - start
        assert len(results) == size
        assert all(r.content for r in results)
        return elapsed

    names = list(models)
    for name in names:
        loop.run_until_complete(models[name].abatch(prompts[:100]))
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            out["samples"].setdefault(name, []).append(loop.run_until_complete(batch(models[name])))
            out["connections_after"].setdefault(name, []).append(
                describe(name, models[name])["connections_now"]
            )
    out["stack"] = {name: describe(name, model) for name, model in models.items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per process")
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--groups", default="stock,alias")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.base_url, args.rounds, args.size)))
        return
    sys.path.insert(0, str(BENCH_DIR))
    from canned_server import CannedServer

    processes, rounds = (1, 1) if args.quick else (args.processes, args.rounds)
    samples: dict[str, list[float]] = {}
    conns: dict[str, list[int]] = {}
    stacks: dict[str, Any] = {}
    load = os.getloadavg()[0]
    with CannedServer() as server:
        for repeat in range(processes):
            chosen = args.groups.split(",")
            groups = chosen if repeat % 2 == 0 else chosen[::-1]
            for group in groups:
                done = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        group,
                        "--base-url",
                        server.base_url,
                        "--rounds",
                        str(rounds),
                        "--size",
                        str(args.size),
                    ],
                    capture_output=True,
                    text=True,
                    timeout=1800,
                    check=False,
                )
                if done.returncode:
                    raise RuntimeError(done.stderr[-3000:])
                data = json.loads(done.stdout.splitlines()[-1])
                for name, values in data["samples"].items():
                    key = (
                        f"{name} [{data['httpx_module']}]"
                        if name != "ChatOpenAI"
                        else f"ChatOpenAI [{group} process]"
                    )
                    samples.setdefault(key, []).extend(values)
                    conns.setdefault(key, []).extend(data["connections_after"][name])
                    stacks[key] = data["stack"][name]
            print(f"pass {repeat + 1}/{processes}", file=sys.stderr, flush=True)
    print(
        f"abatch of {args.size} calls, default max_concurrency; {processes} processes per "
        f"group x {rounds} rounds; load {load:.2f} -> {os.getloadavg()[0]:.2f}\n"
    )
    print(
        "| contestant | median s | min s | max s | samples | pooled connections after |"
        " client / pool |"
    )
    print("| --- | ---: | ---: | ---: | ---: | --- | --- |")
    for key, values in samples.items():
        stack = stacks[key]
        print(
            f"| {key} | {statistics.median(values):.2f} | {min(values):.2f} | "
            f"{max(values):.2f} | {len(values)} | {conns[key]} | `{stack['client']}` / "
            f"`{stack['pool']}` ({stack['max_connections']} max, "
            f"{stack['max_keepalive']} keep-alive) |"
        )
    (BENCH_DIR / "results" / f"langchain_batch_{args.groups.replace(',', '_')}.json").write_text(
        json.dumps({"samples": samples, "connections_after": conns, "stacks": stacks}, indent=1)
    )


if __name__ == "__main__":
    main()
