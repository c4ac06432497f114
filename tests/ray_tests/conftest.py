"""A local Ray cluster (two workers) in front of the LiteLLM proxy and llama.cpp server.

The cluster is started the way a real one is, with ``ray start --head``, and the API key
is set only in that command's environment, as an operator sets it on every node: the
jobs the tests submit (``examples/ray/label_and_embed.py`` and docs/scale.md's Ray
blocks) run without it, so their success shows the key reached the workers from the
node, not from the driver. Everything listens on 127.0.0.1.

Needs the ``ray`` dependency group: ``make test-ray`` runs this tier in ``.venv-ray``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from langchain_nebula.local import LocalServer
from tests.integration_tests.conftest import (  # noqa: F401
    litellm_proxy,
    local_server,
    vision_server,
)
from tests.litellm_proxy import USER_KEY, LiteLLMProxy

RAY = Path(sys.executable).with_name("ray")
STARTED = "Ray runtime started."


@dataclass
class RayCluster:
    """A ``ray start --head --block`` child and what a driver needs to reach it."""

    address: str
    temp_dir: Path
    api_key: str
    base_url: str
    log: list[str] = field(default_factory=list)

    def driver_env(self) -> dict[str, str]:
        """The environment of a job submitted from this machine: no key in it."""
        return {
            **_without_keys(),
            **self._ray_env(),
            "RAY_ADDRESS": self.address,
            # Under `uv run` (as `make test-ray` runs us) Ray would otherwise ship the
            # working directory, this repository, to the workers: see docs/scale.md.
            "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
        }

    def _ray_env(self) -> dict[str, str]:
        # Ray's own token authentication, with a token of ours (not ~/.ray/auth_token).
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(self.temp_dir / "token")}

    def files_containing(self, needle: str) -> list[Path]:
        """Every file under the cluster's temporary directory (logs, session data) with it."""
        wanted = needle.encode()
        found = []
        for path in self.temp_dir.rglob("*"):
            if path.is_file() and not path.is_symlink():
                try:
                    if wanted in path.read_bytes():
                        found.append(path)
                except OSError:  # a socket or a file removed while we looked
                    continue
        return found


def _without_keys() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("NEBULA_", "RAY_"))}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def ray_cluster(
    local_server: LocalServer,  # noqa: F811
    litellm_proxy: LiteLLMProxy,  # noqa: F811
) -> Iterator[RayCluster]:
    # A short path: Ray's Unix sockets live under it (107 characters at most).
    temp_dir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    port = _free_port()
    cluster = RayCluster(
        address=f"127.0.0.1:{port}",
        temp_dir=temp_dir,
        api_key=USER_KEY,
        base_url=litellm_proxy.base_url,
    )
    (temp_dir / "token").write_text(secrets.token_hex(32))
    # What an operator exports on each node before `ray start`; workers inherit it.
    env = {**_without_keys(), **cluster._ray_env()}
    env.update(NEBULA_API_KEY=cluster.api_key, NEBULA_BASE_URL=cluster.base_url)
    process = subprocess.Popen(
        [
            *(str(RAY), "start", "--head", "--block", "--num-cpus=2"),
            *("--node-ip-address=127.0.0.1", f"--port={port}", f"--temp-dir={temp_dir}"),
            *("--include-dashboard=false", "--disable-usage-stats"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    for line in process.stdout:  # ends at EOF if ray start fails
        cluster.log.append(line.rstrip())
        if STARTED in line:
            break
    else:
        process.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)
        pytest.fail("ray start failed:\n" + "\n".join(cluster.log[-30:]))

    def drain() -> None:  # never let the child block on a full pipe
        assert process.stdout is not None
        for line in process.stdout:
            cluster.log = [*cluster.log[-199:], line.rstrip()]

    threading.Thread(target=drain, daemon=True).start()
    try:
        yield cluster
    finally:
        process.terminate()  # --block: SIGTERM stops every process it started
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)
