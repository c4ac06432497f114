"""Error messages name who answered: Nebula by name, any other server by its host."""

from __future__ import annotations

import pytest

from langchain_nebula import ChatNebula, NebulaBadRequestError
from langchain_nebula.errors import error_from_response
from tests.conftest import API_KEY
from tests.scripted_server import ScriptedServer

BODY = b'{"error": {"message": "bad field", "code": 400}}'


def test_an_error_from_another_server_names_its_host_not_nebula(server: ScriptedServer) -> None:
    server.reply_json({"error": {"message": "bad field", "code": 400}}, status=400)
    model = ChatNebula(base_url=server.base_url, api_key=API_KEY, max_retries=0)

    with pytest.raises(NebulaBadRequestError) as caught:
        model.invoke("hi")

    assert str(caught.value) == "API error 400 from 127.0.0.1: bad field"
    assert caught.value.host == "127.0.0.1"


def test_an_error_from_a_nebula_host_says_nebula() -> None:
    error = error_from_response(400, {}, BODY, host="inference.nebulablock.com")

    assert str(error) == "Nebula API error 400: bad field"


def test_an_error_whose_host_is_unknown_keeps_the_nebula_wording() -> None:
    assert str(error_from_response(400, {}, BODY)) == "Nebula API error 400: bad field"


def test_an_error_without_a_status_names_no_one() -> None:
    error = NebulaBadRequestError("refused before sending", host="127.0.0.1")

    assert str(error) == "refused before sending"


def test_the_host_survives_pickling() -> None:
    import pickle

    error = error_from_response(400, {}, BODY, host="localhost")

    assert str(pickle.loads(pickle.dumps(error))) == "API error 400 from localhost: bad field"
