"""The local server explains what is missing instead of failing slowly."""

from __future__ import annotations

import importlib.util
import time

import pytest

from langchain_nebula.local import LocalServer, LocalServerError


def test_without_xllamacpp_the_server_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "xllamacpp" else real(name, *a),
    )
    started = time.monotonic()
    with pytest.raises(LocalServerError) as caught:
        LocalServer().start()
    assert time.monotonic() - started < 1.0  # no model download, no child process
    assert str(caught.value) == (
        "the local server runs llama.cpp from the xllamacpp package, which is not "
        'installed: pip install "langchain-nebulablock[local]"'
    )
