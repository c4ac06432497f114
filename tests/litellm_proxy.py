"""A real LiteLLM proxy on 127.0.0.1, made to look like Nebula, for tests and transcripts.

Nebula runs a LiteLLM proxy in front of vLLM; this puts the same proxy in front of our
llama.cpp servers. LiteLLM never enters our lock: ``tests/litellm/requirements.txt``
pins ``litellm[proxy]`` and every transitive dependency with hashes, and ``ensure_litellm``
installs it with uv into a virtual environment of its own, cached beside the model
(``$LANGCHAIN_NEBULA_CACHE`` or ``~/.cache/langchain-nebula``) under
``litellm-<hash of the requirements>/``. A stamp written after a successful install marks
it done; anything else there is thrown away and installed again.

``tests/litellm/config.yaml`` maps Nebula's model ids to the backends, publishes
context limits, rate-limits one alias, and names ``tests/litellm/nebula_auth.py`` as
LiteLLM's ``custom_auth`` hook: ``MASTER_KEY`` and ``USER_KEY`` pass,
``RATE_LIMITED_KEY`` gets LiteLLM's own 429, any other key its 401.

Re-pin after changing ``requirements.in``::

    cd tests/litellm && uv pip compile requirements.in --universal --python-version 3.11 \\
        --generate-hashes -o requirements.txt

Every failure to install or start raises ``LiteLLMProxyError`` saying why: a test
session that asked for the proxy fails rather than skips.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import yaml

# The model's cache root: the proxy's environment is cached beside it.
from langchain_nebula._local_files import cache_root, stop_child

__all__ = [
    "BACKEND_DOWN_MODEL",
    "CHAT_ALIASES",
    "EMBEDDINGS_MODEL",
    "MASTER_KEY",
    "RATE_LIMITED_KEY",
    "REASONING_MODEL",
    "RPM_LIMITED_MODEL",
    "RPM_TIER_MODEL",
    "TEXT_MODEL",
    "USER_KEY",
    "VISION_MISROUTED_MODEL",
    "VISION_MODEL",
    "LiteLLMProxy",
    "LiteLLMProxyError",
    "ensure_litellm",
    "find_uv",
    "r1_grammar",
]

CONFIG_DIR = Path(__file__).parent / "litellm"
REQUIREMENTS = CONFIG_DIR / "requirements.txt"

MASTER_KEY = "sk-nebula-test-master-key"
USER_KEY = "sk-nebula-test-user-key"
RATE_LIMITED_KEY = "sk-nebula-test-rate-limited-key"

TEXT_MODEL = "meta-llama/Llama-3.3-70B-Instruct"
REASONING_MODEL = "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"
VISION_MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"  # served by the vision backend
VISION_MISROUTED_MODEL = "nebula-test/vision-misrouted"  # a vision alias, text-only backend
RPM_LIMITED_MODEL = "nebula-test/rpm-limited"
RPM_TIER_MODEL = "nebula-test/rpm-12"  # 12 requests a minute
BACKEND_DOWN_MODEL = "nebula-test/backend-down"
EMBEDDINGS_MODEL = "BAAI/bge-large-en-v1.5"
# The aliases served by llama.cpp: the chat backend, and the vision backend (VISION_MODEL).
CHAT_ALIASES = (
    TEXT_MODEL,
    REASONING_MODEL,
    VISION_MODEL,
    VISION_MISROUTED_MODEL,
    RPM_LIMITED_MODEL,
    RPM_TIER_MODEL,
)


def r1_grammar(*, open_tag: bool = True, thought: int = 120, answer: int = 80) -> str:
    """A llama.cpp ``grammar`` that makes any model answer in DeepSeek-R1's shape.

    ``<think>\\n`` reasoning ``\\n</think>\\n\\n`` answer, or without the opening tag, as
    R1 models answer when their chat template has already emitted it. Sent as the
    request field ``grammar`` (LiteLLM forwards it), it makes the reasoning aliases
    deterministic with a 135M model; ``thought`` and ``answer`` cap their lengths.
    """
    opening = '"<think>\\n" ' if open_tag else ""
    return (
        f'root ::= {opening}thought "\\n</think>\\n\\n" answer\n'
        f"thought ::= [A-Za-z ,.']{{10,{thought}}}\n"
        f"answer ::= [A-Za-z ,.!']{{1,{answer}}}"
    )


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PORT_TAKEN = "address already in use"


class LiteLLMProxyError(RuntimeError):
    """LiteLLM could not be installed or did not start; the message says why."""


def find_uv() -> str:
    """The uv executable: the ``uv`` package of the test group, else ``uv`` on PATH."""
    try:
        import uv  # type: ignore[import-untyped,import-not-found,unused-ignore]

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if found is None:
        msg = (
            "cannot install LiteLLM: uv is neither importable (it is in the `test` "
            "dependency group: run `uv sync`) nor on PATH"
        )
        raise LiteLLMProxyError(msg)
    return found


def _run(command: list[str], what: str) -> None:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)  # ours; uv must not confuse it with the target
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
        msg = f"cannot install LiteLLM: {what} failed (exit {done.returncode}):\n{tail}"
        raise LiteLLMProxyError(msg)


@contextlib.contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    # Two sessions installing into one directory at once would corrupt it.
    with lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_litellm(cache_dir: Path | None = None) -> Path:
    """Returns the Python of LiteLLM's own virtual environment, installing it once.

    Args:
        cache_dir: Where the environment lives; default the model's cache root.

    Raises:
        LiteLLMProxyError: If uv is missing or the install fails.
    """
    requirements = REQUIREMENTS.read_bytes()
    root = cache_root(cache_dir) / f"litellm-{hashlib.sha256(requirements).hexdigest()[:12]}"
    venv, stamp = root / "venv", root / "installed"
    python = venv / "bin" / "python"
    if stamp.is_file() and python.is_file():
        return python
    root.mkdir(parents=True, exist_ok=True)
    with _exclusive(root / "lock"):
        if stamp.is_file() and python.is_file():
            return python  # another session finished it while we waited
        shutil.rmtree(venv, ignore_errors=True)  # a half-done install is redone
        uv = find_uv()
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], "uv venv")
        _run(
            [
                *(uv, "pip", "install", "--quiet", "--python", str(python)),
                # Compiled now: with PYTHONDONTWRITEBYTECODE set, every start would
                # otherwise compile LiteLLM's 1,300 modules again.
                *("--require-hashes", "--compile-bytecode", "-r", str(REQUIREMENTS)),
            ],
            "uv pip install -r tests/litellm/requirements.txt",
        )
        stamp.write_text(hashlib.sha256(requirements).hexdigest() + "\n")
    return python


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LiteLLMProxy:
    """LiteLLM's proxy in a child process on 127.0.0.1, configured to look like Nebula.

    Args:
        chat_base_url: The llama.cpp server (``…/v1``) behind the chat aliases.
        embeddings_base_url: The llama.cpp server with embeddings on, behind
            ``BAAI/bge-large-en-v1.5``; default ``chat_base_url``.
        vision_base_url: The llama.cpp server with a vision projector, behind
            ``Qwen/Qwen2.5-VL-7B-Instruct``; default ``chat_base_url`` (then images to
            that alias fail in the backend).
        retries: LiteLLM's ``num_retries`` (router and library); ``None`` keeps
            LiteLLM's own defaults. The default 0 makes failures fast.
        port: The port; default a free one.
        startup_timeout: Seconds to wait for the proxy to answer.
        cache_dir: Where LiteLLM's environment is kept (see ``ensure_litellm``).

    Example:
        .. code-block:: python

            with LocalServer() as llama, LiteLLMProxy(llama.base_url) as proxy:
                model = ChatNebula(base_url=proxy.base_url, api_key=MASTER_KEY)
    """

    def __init__(
        self,
        chat_base_url: str,
        embeddings_base_url: str | None = None,
        vision_base_url: str | None = None,
        *,
        retries: int | None = 0,
        port: int = 0,
        startup_timeout: float = 180.0,
        cache_dir: Path | None = None,
    ) -> None:
        self.chat_base_url = chat_base_url
        self.embeddings_base_url = embeddings_base_url or chat_base_url
        self.vision_base_url = vision_base_url or chat_base_url
        self.retries = retries
        self.port = port
        self.startup_timeout = startup_timeout
        self.cache_dir = cache_dir
        self.url = ""  # http://127.0.0.1:PORT
        self.base_url = ""  # url + "/v1"
        self.install_seconds = 0.0  # ensure_litellm: 0 when already installed
        self.startup_seconds = 0.0  # from spawning the proxy to its first answer
        self.log: list[str] = []
        self._process: subprocess.Popen[str] | None = None
        self._workdir: Path | None = None

    def start(self) -> LiteLLMProxy:
        """Installs LiteLLM if needed, starts the proxy and waits until it answers.

        Raises:
            LiteLLMProxyError: If LiteLLM cannot be installed or the proxy does not
                come up; the message includes the end of its log.
        """
        began = time.monotonic()
        python = ensure_litellm(self.cache_dir)
        self.install_seconds = time.monotonic() - began
        self._workdir = Path(tempfile.mkdtemp(prefix="langchain-nebula-litellm-"))
        config = self._write_config(self._workdir)
        attempt = 0
        while True:
            attempt += 1
            began = time.monotonic()
            self._spawn(python, config, self.port or _free_port())
            try:
                self._wait_ready()
            except LiteLLMProxyError:
                # Another process may have bound the free port first: pick another.
                retry = not self.port and attempt < 3 and self._port_was_taken()
                self._stop_process()
                if retry:
                    continue
                self.stop()
                raise
            self.startup_seconds = time.monotonic() - began
            return self

    def _write_config(self, workdir: Path) -> Path:
        config: dict[str, Any] = yaml.safe_load((CONFIG_DIR / "config.yaml").read_text())
        if self.retries is None:
            config["router_settings"].pop("num_retries", None)
            config["litellm_settings"].pop("num_retries", None)
        else:
            config["router_settings"]["num_retries"] = self.retries
            config["litellm_settings"]["num_retries"] = self.retries
        shutil.copy(CONFIG_DIR / "nebula_auth.py", workdir)  # found beside the config
        path = workdir / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def _spawn(self, python: Path, config: Path, port: int) -> None:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
        }
        env.update(
            NEBULA_TEST_CHAT_API_BASE=self.chat_base_url,
            NEBULA_TEST_EMBEDDINGS_API_BASE=self.embeddings_base_url,
            NEBULA_TEST_VISION_API_BASE=self.vision_base_url,
            NEBULA_TEST_MASTER_KEY=MASTER_KEY,
            NEBULA_TEST_USER_KEY=USER_KEY,
            NEBULA_TEST_RATE_LIMITED_KEY=RATE_LIMITED_KEY,
            # Its bundled price list, not three failing fetches from GitHub per start.
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            # Token counts for llama/deepseek names try to fetch a tokenizer from the
            # Hugging Face hub, retrying for 23 s per request; offline, LiteLLM falls
            # back to tiktoken at once.
            HF_HUB_OFFLINE="1",
            PYTHONUNBUFFERED="1",
        )
        self.log = []
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = self.url + "/v1"
        # stdin stays open while we live: its EOF tells an orphaned proxy to exit.
        self._process = subprocess.Popen(
            [
                *(str(python), str(CONFIG_DIR / "launch.py")),
                *("--config", str(config), "--host", "127.0.0.1", "--port", str(port)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=config.parent,  # whatever LiteLLM writes lands in our temporary directory
            env=env,
        )
        threading.Thread(target=self._keep_log, args=(self._process,), daemon=True).start()

    def _keep_log(self, process: subprocess.Popen[str]) -> None:
        if process.stdout is None:
            return
        for line in process.stdout:  # drained so the child never blocks on a full pipe
            self.log = [*self.log[-199:], _ANSI.sub("", line.rstrip())]

    def _wait_ready(self) -> None:
        process = self._process
        assert process is not None
        deadline = time.monotonic() + self.startup_timeout
        liveliness = self.url + "/health/liveliness"
        while time.monotonic() < deadline:
            if process.poll() is not None:
                process.wait()
                msg = f"LiteLLM proxy exited with code {process.returncode} while starting"
                raise LiteLLMProxyError(msg + self._log_tail())
            try:
                # Uvicorn answers only after LiteLLM's startup (config, routes) is done.
                if httpx.get(liveliness, timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # readiness poll of a process we started, not test sync
        msg = f"LiteLLM proxy did not answer {liveliness} within {self.startup_timeout:.0f} s"
        raise LiteLLMProxyError(msg + self._log_tail())

    def _log_tail(self, lines: int = 40) -> str:
        if not self.log:
            return " (no output)"
        tail = self.log[-lines:]
        # Uvicorn's own error lines (a port in use, say) often precede a long traceback.
        errors = [line for line in self.log[:-lines] if line.startswith("ERROR:")]
        return ":\n" + "\n".join([*errors, *(["..."] if errors else []), *tail])

    def _port_was_taken(self) -> bool:
        return any(_PORT_TAKEN in line.lower() for line in self.log)

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        stop_child(process, grace=15)

    def stop(self) -> None:
        """Stops the proxy (SIGTERM, then SIGKILL after 15 s) and reaps it."""
        self._stop_process()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> LiteLLMProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
