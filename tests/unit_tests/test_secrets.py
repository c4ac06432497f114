"""The API key never leaks: not in repr, dumps, params, errors or logs."""

from __future__ import annotations

import copy
import logging
import pickle
from collections.abc import Callable

import pytest
from langchain_core.load import dumpd, dumps

from langchain_nebula import ChatNebula, NebulaError
from tests.conftest import API_KEY
from tests.scripted_server import ScriptedServer

Make = Callable[..., ChatNebula]


def test_key_is_absent_from_every_rendering(make_model: Make) -> None:
    model = make_model()
    renderings = [
        repr(model),
        str(model),
        str(model.model_dump()),
        str(model.asdict()),
        dumps(model),
        str(dumpd(model)),
        str(model._get_ls_params()),
        str(model._get_invocation_params()),
        str(model._identifying_params),
    ]
    for text in renderings:
        assert API_KEY not in text
    assert model.api_key is not None
    assert model.api_key.get_secret_value() == API_KEY


def test_serialized_model_refers_to_the_env_var_not_the_key(make_model: Make) -> None:
    assert dumpd(make_model())["kwargs"]["api_key"] == {
        "lc": 1,
        "type": "secret",
        "id": ["NEBULA_API_KEY"],
    }


def test_key_is_absent_from_errors_and_debug_logs(
    server: ScriptedServer, make_model: Make, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(2):
        server.reply_json(
            {"error": {"message": "down", "code": 500}}, status=500, headers={"Retry-After": "0"}
        )
    with caplog.at_level(logging.DEBUG), pytest.raises(NebulaError) as caught:
        make_model(max_retries=1).invoke("Hi")
    assert "retry 1 of 1" in caplog.text
    assert API_KEY not in caplog.text
    assert API_KEY not in repr(caught.value)
    assert API_KEY not in str(caught.value)
    assert API_KEY not in str(caught.value.body)


def test_aliases_and_env_var_set_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ChatNebula(nebula_api_key="ak_alias").api_key.get_secret_value() == "ak_alias"  # type: ignore[union-attr]
    monkeypatch.setenv("NEBULA_API_KEY", "ak_env")
    assert ChatNebula().api_key.get_secret_value() == "ak_env"  # type: ignore[union-attr]


def test_model_can_be_copied_and_pickled_and_still_works(
    server: ScriptedServer, make_model: Make
) -> None:
    from tests.scripted_server import completion

    model = make_model(temperature=0.3)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        server.reply_json(completion("clone"))
        assert clone.invoke("Hi").content == "clone"
        assert server.requests[-1].headers["authorization"] == f"Bearer {API_KEY}"
        assert server.requests[-1].json["temperature"] == 0.3
