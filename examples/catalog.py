"""List the models a server serves and build a model with its live profile.

Against Nebula this reads its serverless catalog; with NEBULA_BASE_URL set it reads
that OpenAI-compatible server's own /models list (vLLM, LiteLLM, llama.cpp).
"""

import os

from langchain_nebula import ChatNebula
from langchain_nebula.catalog import list_models

base_url = os.environ.get("NEBULA_BASE_URL")
entries = list_models(url=f"{base_url}/models" if base_url else None)
for entry in entries:
    print(f"{entry.id:50} context={entry.context_length} chat={entry.is_chat}")

first = next(entry for entry in entries if entry.is_chat)
print(ChatNebula(model=first.id, profile=first.profile()).profile)
