"""A loopback stand-in for one HTTPS host, reached the way any HTTPS client reaches a host.

LangChain's standard image tests download their picture from raw.githubusercontent.com
with ``httpx.get``; these tests may talk to nothing beyond 127.0.0.1. httpx honours
``HTTPS_PROXY`` and ``SSL_CERT_FILE``, so ``stand_in`` runs an HTTP proxy on 127.0.0.1
that answers ``CONNECT`` for the named host itself: it terminates TLS with a
certificate for that name from a throwaway certificate authority (``trustme``) and
serves the given files. A ``CONNECT`` to any other host is refused with 403, so
nothing is ever forwarded off the machine.
"""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trustme


@dataclass
class StandIn:
    """Where the proxy listens, which CA to trust, and what it was asked for."""

    proxy_url: str = ""
    ca_file: str = ""
    served: list[str] = field(default_factory=list)  # "host/path" per request answered
    refused: list[str] = field(default_factory=list)  # CONNECT targets turned away


def _read_head(stream: socket.socket | ssl.SSLSocket) -> list[str]:
    """The request line and headers, read up to the blank line."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = stream.recv(4096)
        if not piece:
            break
        data += piece
    return data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")


@contextmanager
def stand_in(host: str, files: dict[str, tuple[str, bytes]], workdir: Path) -> Iterator[StandIn]:
    """Serves ``files`` (path → content type, bytes) as ``https://{host}{path}``.

    Args:
        host: The host name the certificate is issued for.
        files: What to serve.
        workdir: Where the CA's certificate is written (for ``SSL_CERT_FILE``).
    """
    authority = trustme.CA()
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert(host).configure_cert(tls)
    state = StandIn(ca_file=str(workdir / "stand-in-ca.pem"))
    authority.cert_pem.write_to_path(state.ca_file)

    class Tunnel(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            method, target, _ = _read_head(self.request)[0].split(" ", 2)
            if method != "CONNECT" or target.rsplit(":", 1)[0] != host:
                state.refused.append(target)
                self.request.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            with tls.wrap_socket(self.request, server_side=True) as secure:
                path = _read_head(secure)[0].split(" ")[1]
                found = files.get(path)
                if found is None:
                    secure.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    return
                kind, body = found
                state.served.append(host + path)
                head = (
                    f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                )
                secure.sendall(head.encode() + body)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Tunnel)
    server.daemon_threads = True
    state.proxy_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
