"""The local server explains what is missing instead of failing slowly."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

from langchain_nebula.local import PROJECTOR_FILE, LocalServer, LocalServerError, ensure_projector


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


def test_the_projector_is_generated_the_same_every_time(tmp_path: Path) -> None:
    first = ensure_projector(tmp_path / "a")
    second = ensure_projector(tmp_path / "b")
    assert first.name == second.name == PROJECTOR_FILE
    assert first.read_bytes() == second.read_bytes()
    assert 500_000 < first.stat().st_size < 1_000_000  # small enough to write per machine


def test_the_projector_is_a_llava_projector_into_smollm2s_width(tmp_path: Path) -> None:
    from gguf import GGUFReader

    reader = GGUFReader(ensure_projector(tmp_path))
    fields = {name: reader.fields[name].contents() for name in reader.fields}
    assert fields["general.architecture"] == "clip"
    assert fields["clip.projector_type"] == "mlp"
    assert fields["clip.has_vision_encoder"] is True
    assert fields["clip.vision.projection_dim"] == 576  # SmolLM2-135M's embedding width
    shapes = {tensor.name: tuple(tensor.shape) for tensor in reader.tensors}
    assert shapes["mm.2.weight"] == (128, 576)  # ggml's order: input width first
    assert shapes["v.position_embd.weight"] == (64, 5)  # four patches and the class token


def test_a_written_projector_is_reused_not_rewritten(tmp_path: Path) -> None:
    path = ensure_projector(tmp_path)
    written = path.stat().st_mtime_ns
    assert ensure_projector(tmp_path) == path
    assert path.stat().st_mtime_ns == written
    assert [p.name for p in tmp_path.iterdir()] == [PROJECTOR_FILE]  # no scratch left behind
