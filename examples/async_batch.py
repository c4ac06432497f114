"""Answer many prompts concurrently on one pooled connection set."""

import asyncio

from langchain_nebula import ChatNebula


async def main() -> None:
    model = ChatNebula(max_tokens=32)
    prompts = [f"Give one word that rhymes with {word}." for word in ("cat", "sun", "tree", "moon")]
    replies = await model.abatch(prompts, config={"max_concurrency": 8})
    for prompt, reply in zip(prompts, replies, strict=True):
        print(f"{prompt} -> {reply.content}")


asyncio.run(main())
