"""Runs a command with a scripted OpenAI-compatible server on 127.0.0.1 behind it.

    python scripts/serve_for.py -- COMMAND ...

The command gets NEBULA_BASE_URL (the server) and a test NEBULA_API_KEY, so code
written for Nebula runs unchanged against a server that answers like a model.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.scripted_server import ScriptedServer, generic_reply


def main() -> int:
    command = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    server = ScriptedServer().start()
    server.default = generic_reply
    try:
        env = {**os.environ, "NEBULA_BASE_URL": server.base_url, "NEBULA_API_KEY": "ak_smoke"}
        return subprocess.call(command, env=env)
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
