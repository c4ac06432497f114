#!/bin/sh
# Prints the path of a uv binary, installing uv with pip first if there is none.
# Used by the Makefile, so that `make test` works on a machine that has only Python.
if command -v uv >/dev/null 2>&1; then command -v uv; exit 0; fi
found() { "$1" -c "import uv; print(uv.find_uv_bin())" 2>/dev/null; }
found python3 && exit 0
if python3 -m pip install --quiet --disable-pip-version-check uv >&2; then
  found python3 && exit 0
fi
# An externally managed Python (PEP 668, Debian's) refuses that: use a venv of our own,
# or, where the venv module is missing too, the user's site-packages.
if python3 -m venv .uv-bootstrap >&2 && .uv-bootstrap/bin/python -m pip install \
    --quiet --disable-pip-version-check uv >&2; then
  found .uv-bootstrap/bin/python && exit 0
fi
python3 -m pip install --quiet --disable-pip-version-check --user --break-system-packages uv >&2 \
  && found python3 && exit 0
echo "could not install uv: install it (https://docs.astral.sh/uv/) and run make again" >&2
exit 1
