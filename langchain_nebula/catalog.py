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
from types import EllipsisType
from typing import Any

from langchain_core.language_models import ModelProfile

from langchain_nebula._http.client import NebulaClient
from langchain_nebula._http.libraries import Timeout
from langchain_nebula._provider import CATALOG_URL, CATALOG_URL_ENV
from langchain_nebula._settings import ConnectionSettings
from langchain_nebula._wire.model_facts import profile_for
from langchain_nebula.errors import NebulaResponseError

__all__ = ["CATALOG_URL", "NebulaModel", "alist_models", "list_models", "parse_catalog"]

_EMBEDDING_TYPES = frozenset({"embedding", "embeddings", "text-embedding"})
_NON_CHAT_TYPES = _EMBEDDING_TYPES | {"image", "text2image", "audio", "rerank"}


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

    @property
    def is_embedding(self) -> bool:
        """Whether the model makes embeddings (use it with ``NebulaEmbeddings``)."""
        return (self.model_type or "").lower() in _EMBEDDING_TYPES

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
    meta = raw.get("meta")  # llama.cpp's /models: the loaded context is meta.n_ctx
    served = _int(meta.get("n_ctx")) if isinstance(meta, Mapping) else None
    return NebulaModel(
        id=model_id,
        alias=alias if isinstance(alias, str) else None,
        model_type=kind if isinstance(kind, str) else None,
        # Nebula's catalog, vLLM's, LiteLLM's and llama.cpp's /models name limits apart.
        context_length=_int(raw.get("context_length"))
        or _int(raw.get("max_model_len"))
        or _int(raw.get("max_input_tokens"))
        or served,
        max_completion_tokens=_int(raw.get("max_completion_tokens"))
        or _int(raw.get("max_output_tokens")),
        raw=raw,
    )


def parse_catalog(body: Mapping[str, Any]) -> list[NebulaModel]:
    """Reads Nebula's serverless catalog or an OpenAI-style ``/models`` list.

    Raises:
        NebulaResponseError: If the body is neither shape.
    """
    data = body.get("data")
    entries = data.get("models") if isinstance(data, Mapping) else data
    if not isinstance(entries, list):
        msg = "the model catalog has no data.models or data list"
        raise NebulaResponseError(msg, body=str(body)[:500])
    models = [_entry(raw) for raw in entries if isinstance(raw, Mapping)]
    return [model for model in models if model is not None]


def _catalog(
    url: str | None,
    api_key: str | EllipsisType | None,
    max_retries: int,
    timeout: float | Timeout | None,
) -> tuple[NebulaClient, str]:
    settings: dict[str, Any] = {"max_retries": max_retries, "timeout": timeout}
    if api_key is not ...:
        settings["api_key"] = api_key
    client = ConnectionSettings(**settings).nebula_client()
    return client, url or os.environ.get(CATALOG_URL_ENV) or CATALOG_URL


def list_models(
    *,
    url: str | None = None,
    api_key: str | EllipsisType | None = ...,
    max_retries: int = 2,
    timeout: float | Timeout | None = None,
) -> list[NebulaModel]:
    """Lists the models a catalog serves.

    Args:
        url: The catalog URL; default ``NEBULA_CATALOG_URL`` or Nebula's. Pass
            ``f"{base_url}/models"`` to ask an OpenAI-compatible server (vLLM, LiteLLM)
            instead.
        api_key: Sent as a bearer token. By default ``NEBULA_API_KEY``, which goes
            only to Nebula's hosts or the host of ``NEBULA_CATALOG_URL``/
            ``NEBULA_BASE_URL``; ``None`` sends no key.
        max_retries: Retries on transient failures.
        timeout: Seconds or an ``httpx.Timeout``; default 5 s connect, 600 s read.

    Returns:
        Every listed model, chat or not (see ``NebulaModel.is_chat``).

    Raises:
        NebulaError: A typed error if the catalog cannot be read.

    Example:
        .. code-block:: python

            chat_models = [m.id for m in list_models() if m.is_chat]
    """
    client, target = _catalog(url, api_key, max_retries, timeout)
    data, _ = client.get_json(target)
    return parse_catalog(data)


async def alist_models(
    *,
    url: str | None = None,
    api_key: str | EllipsisType | None = ...,
    max_retries: int = 2,
    timeout: float | Timeout | None = None,
) -> list[NebulaModel]:
    """Async ``list_models``."""
    client, target = _catalog(url, api_key, max_retries, timeout)
    data, _ = await client.aget_json(target)
    return parse_catalog(data)
