"""Print an answer token by token, then the usage the last chunk carries."""

from langchain_nebula import ChatNebula

model = ChatNebula()
full = None
for chunk in model.stream("Write a haiku about the St. Lawrence river."):
    print(chunk.text, end="", flush=True)
    full = chunk if full is None else full + chunk
print()
if full is not None:
    print("usage:", full.usage_metadata)
