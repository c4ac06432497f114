"""Nebula's live model catalog, and model profiles built from it.

Nebula lists its serverless models at ``GET https://api.nebulablock.com/api/v1/serverless/models``
(``{"data": {"models": [...]}}``), and an OpenAI-compatible server lists its own at
``GET {base_url}/models`` (``{"data": [...]}``). ``list_models`` reads either, so a model
released after this package still gets a correct profile::

    from langchain_nebula import ChatNebula
    from langchain_nebula.catalog import list_models

    models = {m.id: m for m in list_models() if m.is_chat}
    model = ChatNebula(model="Qwen/QwQ-32B", profile=models["Qwen/QwQ-32B"].profile())
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import ModelProfile

from langchain_nebula._exceptions import NebulaServerError
from langchain_nebula._profiles import profile_for
from langchain_nebula._transport import (
    DEFAULT_TIMEOUT,
    ClientConfig,
    Endpoint,
    asend_json,
    async_client,
    build_endpoint,
    send_json,
    sync_client,
)

__all__ = ["CATALOG_URL", "NebulaModel", "alist_models", "list_models", "parse_catalog"]

CATALOG_URL = "https://api.nebulablock.com/api/v1/serverless/models"
_NON_CHAT_TYPES = frozenset({"embedding", "embeddings", "image", "text2image", "audio", "rerank"})


@dataclass(frozen=True)
class NebulaModel:
    """One entry of a model catalog.

    Attributes:
        id: The id to pass as ``ChatNebula(model=...)``.
        alias: Nebula's display name, when listed.
        model_type: Nebula's category (e.g. ``"text"``, ``"vision"``, ``"embedding"``).
        context_length: The served context window in tokens, when listed.
        max_completion_tokens: The most tokens one answer may have, when listed.
        raw: The entry as the server sent it.

    Example:
        .. code-block:: python

            entry = NebulaModel(id="vendor/new-model", context_length=65536)
            ChatNebula(model=entry.id, profile=entry.profile())
    """

    id: str
    alias: str | None = None
    model_type: str | None = None
    context_length: int | None = None
    max_completion_tokens: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_chat(self) -> bool:
        """Whether the model answers chat completions (not an embedding/image model)."""
        return (self.model_type or "").lower() not in _NON_CHAT_TYPES

    def profile(self) -> ModelProfile:
        """This package's known profile for the model, with the catalog's limits."""
        profile: ModelProfile = profile_for(self.id) or {}
        if self.context_length:
            profile["max_input_tokens"] = self.context_length
        if self.max_completion_tokens:
            profile["max_output_tokens"] = self.max_completion_tokens
        if (self.model_type or "").lower() in ("vision", "vl", "multimodal"):
            profile["image_inputs"] = True
        return profile


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _entry(raw: Mapping[str, Any]) -> NebulaModel | None:
    model_id = raw.get("model_name") or raw.get("id")
    if not isinstance(model_id, str) or not model_id:
        return None
    alias = raw.get("model_alias")
    kind = raw.get("model_type")
    return NebulaModel(
        id=model_id,
        alias=alias if isinstance(alias, str) else None,
        model_type=kind if isinstance(kind, str) else None,
        context_length=_int(raw.get("context_length")) or _int(raw.get("max_model_len")),
        max_completion_tokens=_int(raw.get("max_completion_tokens")),
        raw=raw,
    )


def parse_catalog(body: Mapping[str, Any]) -> list[NebulaModel]:
    """Reads Nebula's serverless catalog or an OpenAI-style ``/models`` list.

    Raises:
        NebulaServerError: If the body is neither shape.
    """
    data = body.get("data")
    entries = data.get("models") if isinstance(data, Mapping) else data
    if not isinstance(entries, list):
        msg = "the model catalog has no data.models or data list"
        raise NebulaServerError(msg, body=dict(body))
    models = [_entry(raw) for raw in entries if isinstance(raw, Mapping)]
    return [model for model in models if model is not None]


def _catalog_endpoint(url: str | None, api_key: str | None, max_retries: int) -> Endpoint:
    secret = api_key if api_key is not None else os.environ.get("NEBULA_API_KEY")
    url = url or os.environ.get("NEBULA_CATALOG_URL") or CATALOG_URL
    return build_endpoint(url, secret=secret or None, max_retries=max_retries, method="GET")


def list_models(
    *, url: str | None = None, api_key: str | None = None, max_retries: int = 2
) -> list[NebulaModel]:
    """Lists the models a catalog serves.

    Args:
        url: The catalog URL; default ``NEBULA_CATALOG_URL`` or Nebula's. Pass
            ``f"{base_url}/models"`` to ask an OpenAI-compatible server instead.
        api_key: Sent as a bearer token; default ``NEBULA_API_KEY`` if set.
        max_retries: Retries on transient failures.

    Returns:
        Every listed model, chat or not (see ``NebulaModel.is_chat``).

    Raises:
        NebulaError: A typed error if the catalog cannot be read.

    Example:
        .. code-block:: python

            chat_models = [m.id for m in list_models() if m.is_chat]
    """
    endpoint = _catalog_endpoint(url, api_key, max_retries)
    client = sync_client(ClientConfig.build(DEFAULT_TIMEOUT))
    return parse_catalog(send_json(client, endpoint, b""))


async def alist_models(
    *, url: str | None = None, api_key: str | None = None, max_retries: int = 2
) -> list[NebulaModel]:
    """Async ``list_models``."""
    endpoint = _catalog_endpoint(url, api_key, max_retries)
    client = async_client(ClientConfig.build(DEFAULT_TIMEOUT))
    return parse_catalog(await asend_json(client, endpoint, b""))
