"""Per-module mutation scores from a finished `mutmut run` (see `make mutation`).

Reads mutmut's result files (mutants/<module>.py.meta) and prints, per module, the
mutants killed of those in scope and the score, then the name of every mutant that
was not killed. `mutmut show <name>` prints a mutant's diff.

A mutant counts as killed when a test failed (or timed out) with it in place. Mutants
no test reaches count against the score, like survivors.

Usage: python scripts/mutation_report.py [--fail-under PERCENT]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

MUTANTS = Path("mutants")
PACKAGE = "langchain_nebula"

# The modules scored, and for some the functions (or ``Class.method``s) scored in
# them (None: the whole module). Keep in step with only_mutate in setup.cfg.
SCOPE: dict[str, frozenset[str] | None] = {
    "errors": None,
    "_redaction": None,
    "_server_words": None,
    "_wire/json_codec": None,
    "_wire/messages": None,
    "_wire/tools": None,
    "_wire/request": None,
    "_wire/choices": None,
    "_wire/completions": None,
    "_wire/chunks": None,
    "_wire/reasoning": None,
    "_wire/tokenizer": None,
    "_wire/model_facts": None,
    "_wire/embeddings": None,
    "_http/retry": None,
    "_http/timeouts": None,
    "_http/sse": None,
    "_http/decoding": None,
    # The I/O layer, driven by the scripted-server tests.
    "_http/transport": None,
    "_http/events": None,
    "_http/failures": None,
    "_http/client": None,
    # Of the embeddings class, the batching: cutting, running and joining requests.
    "embeddings": frozenset(
        {
            "NebulaEmbeddings.embed_documents",
            "NebulaEmbeddings.aembed_documents",
            "NebulaEmbeddings._batches",
            "NebulaEmbeddings._joined",
            "NebulaEmbeddings._encoding",
            "NebulaEmbeddings._remember_floats",
            "NebulaEmbeddings._embed_batch",
            "NebulaEmbeddings._embed_in_threads",
            "NebulaEmbeddings._aembed_batch",
            "NebulaEmbeddings._aembed_in_tasks",
            "_may_be_refusing_base64",
        }
    ),
}

# mutmut's exit codes (mutmut.stats.status_by_exit_code).
# A timeout counts as a kill: the mutant made a test hang (an endless loop, say).
KILLED = {1, 3, 36, 24, -24, 152, 255}
NOT_RUN = {None, 2, 34}
NO_TESTS = {5, 33}


def function_of(mutant: str) -> str:
    """The mutated function's name: `pkg.mod.x_name__mutmut_3` or `pkg.mod.xǁClsǁname__…`."""
    mangled = mutant.partition("__mutmut_")[0].rpartition(".")[2]
    if mangled.startswith("xǁ"):
        return mangled[2:].replace("ǁ", ".")
    return mangled.removeprefix("x_")


def status(code: int | None) -> str:
    """The outcome of one mutant's exit code."""
    if code in KILLED:
        return "killed"
    if code in NOT_RUN:
        return "not run"
    if code in NO_TESTS:
        return "no tests"
    if code == 0:
        return "survived"
    return "suspicious"


def main() -> int:
    """Prints the report; returns 1 if a module scores under --fail-under."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fail-under", type=float, default=None)
    args = parser.parse_args()
    if not MUTANTS.is_dir():
        print("no mutants/ directory: run `make mutation` first", file=sys.stderr)
        return 2

    rows = []
    missed: list[tuple[str, str]] = []
    for module, functions in SCOPE.items():
        meta = MUTANTS / PACKAGE / f"{module}.py.meta"
        codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
        counts: Counter[str] = Counter()
        for mutant, code in sorted(codes.items(), key=lambda item: _natural(item[0])):
            name = function_of(mutant)
            if functions is not None and not {name, name.split(".")[0]} & functions:
                continue
            outcome = status(code)
            counts[outcome] += 1
            if outcome != "killed":
                missed.append((mutant, outcome))
        total = sum(counts.values())
        score = 100.0 * counts["killed"] / total if total else 0.0
        rows.append((module, counts, total, score))

    print(f"{'module':<20}{'killed':>8}{'total':>7}{'score':>8}  not killed")
    for module, counts, total, score in rows:
        rest = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()) if what != "killed")
        print(f"{module:<20}{counts['killed']:>8}{total:>7}{score:>7.1f}%  {rest}")
    killed = sum(counts["killed"] for _, counts, _, _ in rows)
    total = sum(total for _, _, total, _ in rows)
    print(f"{'all':<20}{killed:>8}{total:>7}{100.0 * killed / max(total, 1):>7.1f}%")

    if missed:
        print("\nNot killed (`mutmut show <name>` for the diff):")
        for mutant, outcome in missed:
            print(f"  {outcome:<11} {mutant}")

    if args.fail_under is not None:
        low = [module for module, _, total, score in rows if total and score < args.fail_under]
        if low:
            print(f"\nUnder {args.fail_under:g}%: {', '.join(low)}", file=sys.stderr)
            return 1
    return 0


def _natural(mutant: str) -> tuple[str, int]:
    name, _, number = mutant.rpartition("__mutmut_")
    return name, int(number) if number.isdigit() else 0


if __name__ == "__main__":
    sys.exit(main())
