"""Who we talk to, stated once: Nebula's hosts, environment variables and names.

Every module that needs the provider's identity (the transport's User-Agent, the
connection's key policy, the metadata on messages, the wording of errors) reads it
from here, so a rename or a new host is a one-line change.
"""

from __future__ import annotations

from typing import Final

from langchain_nebula._version import __version__

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "CATALOG_URL",
    "CATALOG_URL_ENV",
    "DEFAULT_BASE_URL",
    "DISTRIBUTION",
    "NEBULA_HOSTS",
    "PROVIDER",
    "PROVIDER_NAME",
    "USER_AGENT",
]

PROVIDER: Final = "nebula"
"""The provider id in LangChain metadata (``ls_provider``, ``model_provider``)."""
PROVIDER_NAME: Final = "Nebula"
"""The provider's name as error messages show it."""
DISTRIBUTION: Final = "langchain-nebulablock"
"""The name this package is installed under (the import name is ``langchain_nebula``)."""
USER_AGENT: Final = f"{DISTRIBUTION}/{__version__}"

DEFAULT_BASE_URL: Final = "https://inference.nebulablock.com/v1"
CATALOG_URL: Final = "https://api.nebulablock.com/api/v1/serverless/models"
NEBULA_HOSTS: Final = frozenset({"inference.nebulablock.com", "api.nebulablock.com"})
"""Hosts that receive ``NEBULA_API_KEY`` from the environment without being named."""

API_KEY_ENV: Final = "NEBULA_API_KEY"
BASE_URL_ENV: Final = "NEBULA_BASE_URL"
CATALOG_URL_ENV: Final = "NEBULA_CATALOG_URL"
