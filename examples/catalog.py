"""List Nebula's live catalog and build a model with its profile."""

from langchain_nebula import ChatNebula
from langchain_nebula.catalog import list_models

for entry in list_models():
    print(f"{entry.id:50} context={entry.context_length} chat={entry.is_chat}")

first = next(entry for entry in list_models() if entry.is_chat)
print(ChatNebula(model=first.id, profile=first.profile()).profile)
