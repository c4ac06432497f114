"""Does httpx2 interoperate with httpx 0.28 objects? Each probe prints OK or the error.

Probes what a user of ChatNebula passes today (``httpx.Client``/``httpx.AsyncClient``,
``httpx.Limits``/``Timeout``, custom transports such as ``httpx.MockTransport``) against
httpx2's API, and whether ChatNebula's pydantic fields would take httpx2 clients. No
network: MockTransport answers. Run::

    uv run --locked --group bench python benchmarks/httpx2_interop.py
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from collections.abc import Callable
from typing import Any

import httpx
import httpx2


def probe(label: str, fn: Callable[[], Any]) -> None:
    try:
        result = fn()
        print(f"| {label} | OK: {result!r}"[:200] + " |")
    except Exception as exc:
        print(
            f"| {label} | **{type(exc).__module__}.{type(exc).__name__}**: "
            f"{str(exc)[:110]!s} |".replace("\n", " ")
        )


def answer(request: Any) -> Any:
    return (httpx2 if isinstance(request, httpx2.Request) else httpx).Response(
        200, json={"ok": type(request).__module__}
    )


def main() -> None:
    print(
        f"httpx {httpx.__version__}, httpx2 {httpx2.__version__}, "
        f"langchain-nebula {importlib.metadata.version('langchain-nebulablock')}\n"
    )
    print("| probe | result |\n| --- | --- |")
    probe(
        "httpx2.Client is httpx.Client / subclass",
        lambda: (httpx2.Client is httpx.Client, issubclass(httpx2.Client, httpx.Client)),
    )
    probe(
        "httpx2.HTTPError subclasses httpx.HTTPError",
        lambda: issubclass(httpx2.HTTPError, httpx.HTTPError),
    )
    probe(
        "httpx2.Client(limits=httpx.Limits(...))",
        lambda: httpx2.Client(limits=httpx.Limits(max_connections=5)).close(),
    )
    probe(
        "httpx2.Client(timeout=httpx.Timeout(3.0))",
        lambda: httpx2.Client(timeout=httpx.Timeout(3.0)).timeout,
    )
    probe(
        "httpx2.Client(transport=httpx.MockTransport(h)).get(...)",
        lambda: httpx2.Client(transport=httpx.MockTransport(answer)).get("http://x/").json(),
    )
    probe(
        "httpx.Client(transport=httpx2.MockTransport(h)).get(...)",
        lambda: httpx.Client(transport=httpx2.MockTransport(answer)).get("http://x/").json(),
    )

    async def async_transport() -> Any:
        async with httpx2.AsyncClient(transport=httpx.AsyncHTTPTransport()) as client:
            return await client.get("http://127.0.0.1:9/")

    probe(
        "httpx2.AsyncClient(transport=httpx.AsyncHTTPTransport()).get(...)",
        lambda: asyncio.run(async_transport()),
    )
    probe(
        "httpx.Client().send(httpx2.Request(...))",
        lambda: (
            httpx.Client(transport=httpx.MockTransport(answer))
            .send(httpx2.Request("GET", "http://x/"))
            .json()
        ),
    )
    probe(
        "httpx2.Client().build_request(..., headers=httpx.Headers)",
        lambda: (
            httpx2.Client()
            .build_request("POST", httpx.URL("http://x/"), headers=httpx.Headers({"a": "b"}))
            .headers
        ),
    )
    probe("httpx.TransportError catches an httpx2 ConnectError", lambda: _catch())

    from langchain_nebula import ChatNebula

    probe(
        "ChatNebula(http_client=httpx2.Client())",
        lambda: type(
            ChatNebula(
                base_url="http://x/v1", api_key="k", model="m", http_client=httpx2.Client()
            ).http_client
        ),
    )
    probe(
        "ChatNebula(http_async_client=httpx2.AsyncClient())",
        lambda: type(
            ChatNebula(
                base_url="http://x/v1",
                api_key="k",
                model="m",
                http_async_client=httpx2.AsyncClient(),
            ).http_async_client
        ),
    )
    probe("httpx2.alias_httpx() after httpx was imported", httpx2.alias_httpx)


def _catch() -> str:
    try:
        httpx2.Client().get("http://127.0.0.1:9/")
    except httpx.TransportError:
        return "caught"
    except httpx2.TransportError as exc:
        return f"not caught by httpx.TransportError: {type(exc).__name__}"
    return "no error"


if __name__ == "__main__":
    main()
