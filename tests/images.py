"""Images for the vision tests, written here, and a server that hands them out on 127.0.0.1.

PNGs are built with zlib from the standard library, so no imaging package is needed;
the broken ones are broken in exactly one known way each.
"""

from __future__ import annotations

import base64
import random
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _header(width: int, height: int) -> bytes:
    # 8-bit RGB, no interlace.
    return _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))


def png(width: int = 64, height: int = 48, *, shade: int = 0) -> bytes:
    """An RGB gradient; ``shade`` makes a different picture of the same size."""
    rows = b"".join(
        b"\x00" + bytes((x * 7 + y * 3 + shade) % 256 for x in range(width * 3))
        for y in range(height)
    )
    return (
        PNG_SIGNATURE
        + _header(width, height)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def noise_png(width: int, height: int) -> bytes:
    """Random pixels stored uncompressed: a file of about ``3 * width * height`` bytes."""
    source = random.Random(width * height)
    rows = b"".join(b"\x00" + source.randbytes(width * 3) for _ in range(height))
    return (
        PNG_SIGNATURE
        + _header(width, height)
        + _chunk(b"IDAT", zlib.compress(rows, 0))
        + _chunk(b"IEND", b"")
    )


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header announces ``width`` x ``height`` pixels, with one pixel of data."""
    return (
        PNG_SIGNATURE
        + _header(width, height)
        + _chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00"))
        + _chunk(b"IEND", b"")
    )


def truncated_png() -> bytes:
    """A real PNG cut in the middle of its pixel data."""
    whole = png()
    return whole[: len(whole) // 2]


SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48">'
    b'<rect width="64" height="48" fill="teal"/></svg>'
)


def data_url(image: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(image).decode()}"


def b64(image: bytes) -> str:
    return base64.b64encode(image).decode()


@dataclass
class ImageHost:
    """What the image server was asked for: one ``(path, user agent)`` per request."""

    url: str = ""  # http://127.0.0.1:PORT
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    fetched: list[tuple[str, str]] = field(default_factory=list)


@contextmanager
def image_host(files: dict[str, tuple[str, bytes]]) -> Iterator[ImageHost]:
    """Serves ``files`` (path → content type, bytes) on 127.0.0.1 and records every fetch."""
    host = ImageHost(files=files)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host.fetched.append((self.path, self.headers.get("User-Agent", "")))
            found = host.files.get(self.path)
            if found is None:
                self.send_error(404)
                return
            kind, body = found
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the test reads host.fetched instead

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
