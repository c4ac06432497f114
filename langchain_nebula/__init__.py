"""LangChain integration for the Nebula Block inference API.

``ChatNebula`` is the chat model and ``NebulaEmbeddings`` the embedding model; the
``Nebula*Error`` classes are every failure they raise (see
``langchain_nebula.errors`` for the tree).
"""

from langchain_nebula._version import __version__
from langchain_nebula.chat_models import ChatNebula
from langchain_nebula.embeddings import NebulaEmbeddings
from langchain_nebula.errors import (
    NebulaAuthenticationError,
    NebulaBadRequestError,
    NebulaConnectionError,
    NebulaContextOverflowError,
    NebulaError,
    NebulaNotFoundError,
    NebulaPermissionDeniedError,
    NebulaRateLimitError,
    NebulaRefusalError,
    NebulaResponseError,
    NebulaServerError,
    NebulaStreamError,
    NebulaTimeoutError,
)

__all__ = [
    "ChatNebula",
    "NebulaAuthenticationError",
    "NebulaBadRequestError",
    "NebulaConnectionError",
    "NebulaContextOverflowError",
    "NebulaEmbeddings",
    "NebulaError",
    "NebulaNotFoundError",
    "NebulaPermissionDeniedError",
    "NebulaRateLimitError",
    "NebulaRefusalError",
    "NebulaResponseError",
    "NebulaServerError",
    "NebulaStreamError",
    "NebulaTimeoutError",
    "__version__",
]
