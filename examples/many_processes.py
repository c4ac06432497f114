"""Spread prompts over worker processes: each builds its own model after it starts.

Start the workers with "spawn" (a fresh interpreter each, nothing inherited from this
process's connections) and build the model in the initializer, from the worker's own
environment: no model, and so no key, crosses the process boundary.
"""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from langchain_core.rate_limiters import InMemoryRateLimiter

from langchain_nebula import ChatNebula

WORKERS = 2
TIER_RPM = 600  # the account's requests a minute, shared by every worker

model: ChatNebula | None = None


def build_model() -> None:
    global model
    # One limiter per worker, each with its share of the tier (one request of headroom
    # per worker: each limiter may spend the one it saved up).
    share = (TIER_RPM - WORKERS) / 60 / WORKERS
    limiter = InMemoryRateLimiter(requests_per_second=share, check_every_n_seconds=0.05)
    model = ChatNebula(max_tokens=32, rate_limiter=limiter)


def answer(prompt: str) -> str:
    assert model is not None, "build_model runs first in every worker"
    return model.invoke(prompt).text


if __name__ == "__main__":
    prompts = [f"Give one word that rhymes with {word}." for word in ("cat", "sun", "tree", "moon")]
    with ProcessPoolExecutor(
        max_workers=WORKERS,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=build_model,
    ) as pool:
        for prompt, reply in zip(prompts, pool.map(answer, prompts), strict=True):
            print(f"{prompt} -> {reply}")
