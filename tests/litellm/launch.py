"""Runs LiteLLM's proxy command line; exits when the process that started it goes.

Run by the Python of LiteLLM's own virtual environment (see tests/litellm_proxy.py),
with the proxy's arguments. Our stdin is a pipe from the parent: its EOF, even after
a SIGKILL of the parent, stops the proxy as Ctrl-C would, then for certain.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

_GRACE_SECONDS = 10.0


def _stop_when_parent_goes() -> None:
    sys.stdin.read()
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn shuts down cleanly
    # A proxy without a database keeps nothing worth a hung shutdown.
    deadline = threading.Timer(_GRACE_SECONDS, os._exit, (1,))
    deadline.daemon = True
    deadline.start()


if __name__ == "__main__":
    threading.Thread(target=_stop_when_parent_goes, daemon=True).start()
    from litellm.proxy.proxy_cli import run_server

    sys.argv[0] = "litellm"
    sys.exit(run_server())
