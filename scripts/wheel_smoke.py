"""Builds nothing, installs nothing: runs README's quick start as a user would.

Called by `make dist-check` with a fresh virtual environment's Python (the built
wheel installed in it with plain pip) as ``sys.executable``, and a local server's
URL in NEBULA_BASE_URL: the README's Python block must run as written.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

readme = Path(sys.argv[1]).read_text()
block = re.search(r"## Quick start.*?```python\n(.*?)```", readme, re.DOTALL)
if block is None:
    sys.exit("README.md has no Python block under '## Quick start'")
exec(compile(block.group(1), "README.md quick start", "exec"))
print("\nREADME quick start ran with the installed wheel")
