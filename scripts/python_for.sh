#!/bin/sh
# Prints the path of a CPython X.Y interpreter on this machine (PATH, then pyenv's).
# usage: scripts/python_for.sh 3.12
version="$1"
if command -v "python$version" >/dev/null 2>&1 && "python$version" -c 'import sys' 2>/dev/null; then
  command -v "python$version"; exit 0
fi
root="${PYENV_ROOT:-$HOME/.pyenv}"
for candidate in "$root"/versions/"$version".*/bin/"python$version"; do
  if [ -x "$candidate" ]; then echo "$candidate"; exit 0; fi
done
echo "no Python $version found on PATH or under $root/versions" >&2
exit 1
