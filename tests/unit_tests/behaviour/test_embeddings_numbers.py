"""NaN and Infinity are refused in every embeddings encoding, as JSON numbers already are."""

from __future__ import annotations

import base64
import math
import struct

import pytest

from langchain_nebula import NebulaEmbeddings, NebulaResponseError
from tests.conftest import API_KEY
from tests.scripted_server import ScriptedServer, embeddings_answer


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_a_base64_vector_holding_nan_or_infinity_is_refused(
    server: ScriptedServer, bad: float
) -> None:
    vector = base64.b64encode(struct.pack("<3f", 0.5, bad, -0.25)).decode()
    server.reply_json(embeddings_answer([vector]))
    embeddings = NebulaEmbeddings(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    with pytest.raises(NebulaResponseError, match="NaN or Infinity"):
        embeddings.embed_query("Hi")


def test_large_finite_base64_values_are_kept(server: ScriptedServer) -> None:
    largest = struct.unpack("<f", struct.pack("<I", 0x7F7FFFFF))[0]  # float32's maximum
    vector = base64.b64encode(struct.pack("<4f", largest, largest, -largest, 1.0)).decode()
    server.reply_json(embeddings_answer([vector]))
    embeddings = NebulaEmbeddings(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    assert embeddings.embed_query("Hi") == [largest, largest, -largest, 1.0]
