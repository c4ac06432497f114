"""Label and embed records on Ray Data: one model per actor, an error record per failed row.

    python examples/ray/label_and_embed.py tickets.jsonl out/ --actors 2 --rpm 600

Reads JSONL records with ``id`` and ``text``; writes Parquet to ``out/``: ``id``, the
ticket's ``topic`` (structured output of ``ChatNebula``), its ``embedding``
(``NebulaEmbeddings``) and ``error`` (null, or why this row failed). A rerun into the
same ``out/`` skips every id already written there.

The API key is never passed from here: each worker reads ``NEBULA_API_KEY`` (and
``NEBULA_BASE_URL``, if set) from its own environment, which it inherits from the
``ray start`` (or ``ray.init``) that started its node. See docs/scale.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time
from typing import Any, Literal

import pyarrow as pa
import pyarrow.fs
import ray
from langchain_core.rate_limiters import InMemoryRateLimiter
from pydantic import BaseModel

from langchain_nebula import ChatNebula, NebulaEmbeddings


class Ticket(BaseModel):
    """What a support ticket is about."""

    topic: Literal["billing", "shipping", "technical", "other"]


RESULT = pa.schema(
    [
        ("id", pa.string()),
        ("topic", pa.string()),
        ("embedding", pa.list_(pa.float32())),
        ("error", pa.string()),
    ]
)


def _error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class LabelAndEmbed:
    """A Ray actor: one chat model, one embeddings model, one rate limiter, one event loop."""

    def __init__(
        self,
        *,
        chat_model: str,
        embeddings_model: str,
        requests_per_second: float,
        max_retries: int = 2,
    ) -> None:
        # No api_key here: the models read NEBULA_API_KEY from this worker's environment.
        self.limiter = InMemoryRateLimiter(
            requests_per_second=requests_per_second, check_every_n_seconds=0.05
        )
        chat = ChatNebula(
            model=chat_model,
            temperature=0,
            max_tokens=48,
            max_retries=max_retries,
            rate_limiter=self.limiter,
        )
        self.classify = chat.with_structured_output(Ticket)
        self.embeddings = NebulaEmbeddings(model=embeddings_model, max_retries=max_retries)
        # One event loop for the actor's life, in a thread of its own: its connections
        # serve every batch, whichever of Ray's threads hands the batch in.
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def __call__(self, batch: pa.Table) -> pa.Table:
        ids, texts = batch["id"].to_pylist(), batch["text"].to_pylist()
        topics, vectors = asyncio.run_coroutine_threadsafe(self._both(texts), self.loop).result()
        rows: dict[str, list[Any]] = {"id": ids, "topic": [], "embedding": [], "error": []}
        for topic, vector in zip(topics, vectors, strict=True):
            failures = [_error(x) for x in (topic, vector) if isinstance(x, BaseException)]
            rows["topic"].append(None if isinstance(topic, BaseException) else topic.topic)
            rows["embedding"].append(None if isinstance(vector, BaseException) else vector)
            rows["error"].append("; ".join(failures) or None)
        return pa.Table.from_pydict(rows, schema=RESULT)

    async def _both(self, texts: list[str]) -> tuple[list[Any], list[Any]]:
        return await asyncio.gather(self._classify(texts), self._embed(texts))

    async def _classify(self, texts: list[str]) -> list[Any]:
        prompts = [[("system", "Classify the support ticket."), ("user", t)] for t in texts]
        # One result per row: a failure is returned in its row's place, not raised.
        return await self.classify.abatch(
            prompts, config={"max_concurrency": len(texts)}, return_exceptions=True
        )

    async def _embed(self, texts: list[str]) -> list[Any]:
        await self.limiter.aacquire()  # an embeddings request counts against the tier too
        try:
            return list(await self.embeddings.aembed_documents(texts))
        except Exception:
            # One bad text fails the whole request: find it, embed the others.
            return list(await asyncio.gather(*map(self._embed_one, texts)))

    async def _embed_one(self, text: str) -> list[float] | BaseException:
        await self.limiter.aacquire()
        try:
            return await self.embeddings.aembed_query(text)
        except Exception as error:
            return error


def already_written(output: str) -> set[str]:
    """The ids in ``output``'s Parquet files (local path or URI), none if there are none."""
    filesystem, path = pyarrow.fs.FileSystem.from_uri(output)
    found = filesystem.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))
    if not any(info.path.endswith(".parquet") for info in found):
        return set()
    return set(ray.data.read_parquet(output, columns=["id"]).to_pandas()["id"])


def per_actor_rate(rpm: int, actors: int) -> float:
    """Requests per second for each actor's limiter, so that all of them stay under ``rpm``.

    Each limiter may also spend the one request it has saved up, so ``actors`` requests
    are held back: in any minute the actors send at most ``actors + (rpm - actors)``.
    """
    if rpm <= actors:
        msg = f"a limit of {rpm} requests a minute cannot be shared by {actors} actors"
        raise ValueError(msg)
    return (rpm - actors) / 60 / actors


def run(
    source: str,
    output: str,
    *,
    actors: int,
    rpm: int,
    chat_model: str = "meta-llama/Llama-3.3-70B-Instruct",
    embeddings_model: str = "BAAI/bge-large-en-v1.5",
    batch_size: int = 32,
    max_retries: int = 2,
) -> int:
    """Labels and embeds ``source``'s new rows into ``output``; returns how many it wrote."""
    # Workers do not share the driver's working directory: make local paths absolute.
    source, output = (p if "://" in p else os.path.abspath(p) for p in (source, output))
    done = already_written(output)
    records = ray.data.read_json(source)
    if done:
        records = records.filter(lambda row: row["id"] not in done)
    results = records.map_batches(
        LabelAndEmbed,
        fn_constructor_kwargs={
            "chat_model": chat_model,
            "embeddings_model": embeddings_model,
            "requests_per_second": per_actor_rate(rpm, actors),
            "max_retries": max_retries,
        },
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors),
        # An actor mostly waits on the network: a quarter CPU each leaves the rest to
        # reading and writing (whole CPUs for the actors can starve those tasks).
        num_cpus=0.25,
    )
    before = len(done)
    results.write_parquet(output)
    return len(already_written(output)) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="JSONL with id and text")
    parser.add_argument("output", help="a directory (or s3://..., gs://...) for Parquet")
    parser.add_argument("--actors", type=int, default=2, help="actors (requests in parallel)")
    parser.add_argument("--rpm", type=int, default=600, help="the account's requests/minute")
    parser.add_argument("--chat-model", default="meta-llama/Llama-3.3-70B-Instruct")
    parser.add_argument("--embeddings-model", default="BAAI/bge-large-en-v1.5")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-retries", type=int, default=2)
    parser.add_argument("--address", help="a running cluster's address; default a local one")
    args = parser.parse_args()
    ray.init(address=args.address)
    began = time.monotonic()
    written = run(
        args.source,
        args.output,
        actors=args.actors,
        rpm=args.rpm,
        chat_model=args.chat_model,
        embeddings_model=args.embeddings_model,
        batch_size=args.batch_size,
        max_retries=args.max_retries,
    )
    seconds = time.monotonic() - began
    print(f"wrote {written} rows in {seconds:.1f} s ({written / seconds:.1f} rows/s)")


if __name__ == "__main__":
    main()
