"""Rows per second labelling and embedding the same tickets: one process vs local Ray.

Both paths run examples/ray/label_and_embed.py's ``LabelAndEmbed`` against one local
llama.cpp server (SmolLM2-135M, chat and embeddings): once called directly in this
process with every row in flight, once through Ray Data on a local cluster of two
actors (the job's wall time, actor start-up included; ``ray.init`` reported apart).
Needs the ``ray`` dependency group: ``make bench-scale``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.json
import pyarrow.parquet as pq
import ray

from langchain_nebula.local import LocalServer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "ray"))
from label_and_embed import LabelAndEmbed, run  # noqa: E402

ROWS = int(os.environ.get("SCALE_ROWS", "100"))
SUBJECTS = [
    "I was charged twice for my order",
    "My parcel has not arrived yet",
    "The app crashes when I log in",
    "Please refund my last invoice",
    "The package went to the wrong address",
    "I cannot reset my password",
]


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    source = workdir / "tickets.jsonl"
    source.write_text(
        "".join(
            f'{{"id": "t{n:04d}", "text": "{SUBJECTS[n % len(SUBJECTS)]} (ticket {n})."}}\n'
            for n in range(ROWS)
        )
    )
    with LocalServer(embeddings=True) as server:
        os.environ["NEBULA_BASE_URL"] = server.base_url  # read by the actors' models
        models = {"chat_model": "SmolLM2-135M-Instruct", "embeddings_model": "SmolLM2"}

        worker = LabelAndEmbed(**models, requests_per_second=1000)
        began = time.monotonic()
        table = worker(pyarrow.json.read_json(source))
        one_process = time.monotonic() - began
        failed = table.num_rows - table["error"].null_count
        print(f"one process:   {ROWS} rows in {one_process:.1f} s, {ROWS / one_process:.2f} rows/s")
        print(f"               ({failed} rows failed)")

        os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"  # don't ship this directory
        # The local cluster's workers inherit this environment: let them import the example.
        os.environ["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT / "examples" / "ray"), os.environ.get("PYTHONPATH")])
        )
        began = time.monotonic()
        ray.init(num_cpus=2, include_dashboard=False, _temp_dir=str(workdir / "ray"))
        startup = time.monotonic() - began
        began = time.monotonic()
        written = run(str(source), str(workdir / "out"), actors=2, rpm=10**6, **models)
        cluster = time.monotonic() - began
        ray.shutdown()
        failed = pq.read_table(workdir / "out", columns=["error"])["error"].null_count
        failed = written - failed
        print(f"local cluster: {written} rows in {cluster:.1f} s, {written / cluster:.2f} rows/s")
        print(f"               ({failed} rows failed; ray.init took {startup:.1f} s more)")


if __name__ == "__main__":
    main()
