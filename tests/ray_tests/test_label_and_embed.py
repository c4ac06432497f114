"""examples/ray/label_and_embed.py on a local two-worker Ray cluster, through LiteLLM.

The job classifies tickets with structured output and embeds them, one ChatNebula and
one NebulaEmbeddings per actor, against the LiteLLM proxy in front of llama.cpp. The
tests read what it wrote: every row exactly once, labelled and embedded, or carrying its
own error; a rerun adds only the rows not yet written; a 12-requests-a-minute alias is
never exceeded by the two workers together; the key is nowhere in Ray's files.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.litellm_proxy import EMBEDDINGS_MODEL, RPM_TIER_MODEL, TEXT_MODEL
from tests.ray_tests.conftest import RayCluster

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ray" / "label_and_embed.py"
ROWS = int(os.environ.get("LANGCHAIN_NEBULA_RAY_ROWS", "200"))
TOPICS = {"billing", "shipping", "technical", "other"}
DIMENSIONS = 576  # SmolLM2-135M's width
SUBJECTS = [
    "I was charged twice for my order",
    "My parcel has not arrived yet",
    "The app crashes when I log in",
    "Please refund my last invoice",
    "The package went to the wrong address",
    "I cannot reset my password",
]
# Over the text alias's published 4096 input tokens: LiteLLM refuses it (400).
TOO_LONG = "The river flows past the old mill. " * 700

pytestmark = pytest.mark.timeout(1800)


def write_tickets(path: Path, tickets: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in tickets))
    return path


def tickets(count: int) -> list[tuple[str, str]]:
    return [(f"t{n:04d}", f"{SUBJECTS[n % len(SUBJECTS)]} (ticket {n}).") for n in range(count)]


def run_job(cluster: RayCluster, source: Path, output: Path, *options: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), str(source), str(output), *options],
        env={**cluster.driver_env(), "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    assert done.returncode == 0, f"the job failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return done.stdout


def written(stdout: str) -> int:
    found = re.search(r"^wrote (\d+) rows", stdout, re.MULTILINE)
    assert found, stdout
    return int(found.group(1))


def read_rows(output: Path) -> list[dict[str, object]]:
    return pq.read_table(output).to_pylist()


def test_every_row_comes_back_once_labelled_and_embedded_and_a_rerun_adds_only_new_rows(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    everything = [*tickets(ROWS), ("poison", TOO_LONG)]
    half = everything[: ROWS // 2]
    output = tmp_path / "out"
    options = ("--actors", "2", "--rpm", "6000", "--chat-model", TEXT_MODEL)
    options += ("--embeddings-model", EMBEDDINGS_MODEL, "--batch-size", "16")

    first = run_job(ray_cluster, write_tickets(tmp_path / "half.jsonl", half), output, *options)
    second = run_job(
        ray_cluster, write_tickets(tmp_path / "all.jsonl", everything), output, *options
    )

    assert written(first) == len(half)
    assert written(second) == len(everything) - len(half)  # the first half was skipped
    rows = read_rows(output)
    assert sorted(row["id"] for row in rows) == sorted(i for i, _ in everything)
    by_id = {row["id"]: row for row in rows}
    poison = by_id.pop("poison")
    assert poison["topic"] is None
    assert "NebulaContextOverflowError" in str(poison["error"])
    failed = {i: row["error"] for i, row in by_id.items() if row["error"] is not None}
    assert failed == {}
    assert {row["topic"] for row in by_id.values()} <= TOPICS
    assert {len(row["embedding"]) for row in by_id.values()} == {DIMENSIONS}  # type: ignore[arg-type]


def test_two_workers_together_stay_under_the_tier_and_lose_no_row_to_429(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    # 14 requests for a 12-a-minute alias: unpaced, two workers exceed it in seconds,
    # and with no retries a 429 would become an error record.
    source = write_tickets(tmp_path / "tickets.jsonl", tickets(14))
    output = tmp_path / "out"
    began = time.monotonic()
    stdout = run_job(
        ray_cluster,
        source,
        output,
        *("--actors", "2", "--rpm", "12", "--max-retries", "0", "--batch-size", "4"),
        *("--chat-model", RPM_TIER_MODEL, "--embeddings-model", EMBEDDINGS_MODEL),
    )
    elapsed = time.monotonic() - began

    rows = read_rows(output)
    assert written(stdout) == 14
    assert [row["error"] for row in rows if row["error"]] == []
    assert {row["topic"] for row in rows} <= TOPICS
    # At least 15 requests (14 chat, 1+ embeddings) from two limiters of (12 - 2) / 60 / 2
    # a second each, which start empty: one of them spends 8, 12 s apart.
    assert elapsed >= 90


def test_the_key_is_in_none_of_rays_files_where_worker_output_does_land(
    ray_cluster: RayCluster,
) -> None:
    canary = "canary-printed-by-a-ray-task-7f3a"
    script = (
        "import ray\n"
        "ray.init()\n"
        "@ray.remote\n"
        f"def shout():\n    print({canary!r}, flush=True)\n"
        "ray.get(shout.remote())\n"
    )
    subprocess.run(
        [sys.executable, "-c", script], env=ray_cluster.driver_env(), check=True, timeout=300
    )

    assert ray_cluster.files_containing(canary), "a task's print should reach Ray's logs"
    assert ray_cluster.files_containing(ray_cluster.api_key) == []
