"""Catch failures by LangChain's provider-neutral types or by ours."""

from langchain_core.exceptions import ModelRateLimitError

from langchain_nebula import ChatNebula, NebulaError, NebulaRateLimitError

model = ChatNebula(max_retries=2, timeout=30)
try:
    print(model.invoke("Hello").content)
except NebulaRateLimitError as error:  # ours: it carries the server's requested wait
    print("rate limited; the server asked to wait", error.retry_after, "s")
except ModelRateLimitError as error:  # LangChain's, for code that serves any provider
    print("rate limited:", error)
except NebulaError as error:
    print(f"failed: {error.status_code} {error.message} (request {error.request_id})")

try:
    model.invoke([("human", [{"type": "audio", "base64": "AAAA", "mime_type": "audio/wav"}])])
except ValueError as error:
    print("rejected before sending:", error)
