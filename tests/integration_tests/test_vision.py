"""Images on a real multimodal server: llama.cpp with a vision projector, and LiteLLM.

The vision server is SmolLM2-135M with a random-weight LLaVA projector that
``langchain_nebula.local.ensure_projector`` writes (``conftest.vision_server``). Its
answers about images are nonsense, so no test reads them; everything else is real:
llama.cpp decodes each image, resizes and normalises it, runs the vision tower and
counts the image's tokens in ``prompt_tokens``. Every form users send an image in is
sent to it directly and through the LiteLLM proxy (``Qwen/Qwen2.5-VL-7B-Instruct``,
published there as taking images), and must be accepted and counted, or refused with
the server's own words as a typed error that is not retried.

LangChain's standard ``test_image_inputs`` and ``test_image_tool_message`` run too, as
they are, against both: the picture they download from GitHub comes from a loopback
stand-in for that host (tests/https_stand_in.py), so nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from functools import reduce
from operator import add
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_tests.integration_tests import ChatModelIntegrationTests

from langchain_nebula import (
    ChatNebula,
    NebulaBadRequestError,
    NebulaError,
    NebulaServerError,
)
from langchain_nebula.local import LocalServer
from tests.https_stand_in import StandIn, stand_in
from tests.images import (
    SVG,
    ImageHost,
    b64,
    data_url,
    image_host,
    noise_png,
    png,
    png_claiming,
    truncated_png,
)
from tests.integration_tests.conftest import LOCAL_MODEL
from tests.litellm_proxy import MASTER_KEY, TEXT_MODEL, VISION_MODEL

PROMPT = "Describe the image."
IMAGE = png()
# One projector patch grid: a 32x32 picture in 16x16 patches, whatever the input size.
TOKENS_PER_IMAGE = 4
NOT_AN_IMAGE = "Failed to load image or audio file"
NO_VISION = "image input is not supported"


class Target:
    """Builds ChatNebula models aimed at one server; ``params`` is what they share."""

    def __init__(self, base_url: str, model: str, api_key: str | None) -> None:
        self.params: dict[str, Any] = {"base_url": base_url, "model": model, "api_key": api_key}

    def __call__(self, **kwargs: Any) -> ChatNebula:
        # One token: the answer about an image means nothing, its usage does.
        options = {**self.params, "temperature": 0, "max_tokens": 1, "max_retries": 0}
        return ChatNebula(**{**options, **kwargs})


@pytest.fixture(scope="module", params=["llamacpp", "litellm"])
def vision(request: pytest.FixtureRequest) -> Target:
    """A ChatNebula aimed at the vision server: directly, or through LiteLLM's vision alias."""
    if request.param == "llamacpp":
        server: LocalServer = request.getfixturevalue("vision_server")
        return Target(server.base_url, LOCAL_MODEL, None)
    return Target(request.getfixturevalue("litellm_base_url"), VISION_MODEL, MASTER_KEY)


@pytest.fixture(scope="module")
def host() -> Iterator[ImageHost]:
    """Images over plain HTTP on 127.0.0.1, for the URL forms; records who fetched what."""
    files = {
        "/picture.png": ("image/png", IMAGE),
        "/drawing.svg": ("image/svg+xml", SVG),
    }
    with image_host(files) as served:
        yield served


def _prompt_tokens(model: ChatNebula, content: Any) -> int:
    reply = model.invoke([HumanMessage(content=content)])
    assert isinstance(reply, AIMessage)
    assert reply.usage_metadata is not None
    return reply.usage_metadata["input_tokens"]


def _text(text: str = PROMPT) -> dict[str, str]:
    return {"type": "text", "text": text}


@pytest.fixture(scope="module")
def text_only_tokens(vision: Target) -> int:
    """The prompt's tokens without an image, from the same server and chat template."""
    return _prompt_tokens(vision(), [_text()])


# -- every image form is accepted, and the image is counted -------------------------


IMAGE_FORMS = {
    "data_url_dict": {"type": "image_url", "image_url": {"url": data_url(IMAGE)}},
    "data_url_string": {"type": "image_url", "image_url": data_url(IMAGE)},
    "detail_low": {"type": "image_url", "image_url": {"url": data_url(IMAGE), "detail": "low"}},
    "detail_high": {"type": "image_url", "image_url": {"url": data_url(IMAGE), "detail": "high"}},
    "standard_base64": {"type": "image", "base64": b64(IMAGE), "mime_type": "image/png"},
    "standard_data_url": {"type": "image", "url": data_url(IMAGE)},
}


@pytest.mark.parametrize("form", list(IMAGE_FORMS))
def test_an_image_form_is_accepted_and_counted(
    vision: Target, text_only_tokens: int, form: str
) -> None:
    tokens = _prompt_tokens(vision(), [_text(), IMAGE_FORMS[form]])
    assert tokens == text_only_tokens + TOKENS_PER_IMAGE


@pytest.mark.parametrize("form", ["standard", "openai"])
def test_an_http_image_url_is_fetched_by_llama_cpp_itself(
    vision: Target, text_only_tokens: int, host: ImageHost, form: str
) -> None:
    url = f"{host.url}/picture.png"
    block = (
        {"type": "image", "url": url}
        if form == "standard"
        else {"type": "image_url", "image_url": {"url": url}}
    )
    before = len(host.fetched)
    tokens = _prompt_tokens(vision(), [_text(), block])
    assert tokens == text_only_tokens + TOKENS_PER_IMAGE
    # Fetched once, by llama.cpp: LiteLLM passes the URL on untouched.
    assert len(host.fetched) == before + 1
    path, agent = host.fetched[-1]
    assert path == "/picture.png"
    assert agent.startswith("llama-cpp/")


def test_several_images_in_one_message_are_each_counted(
    vision: Target, text_only_tokens: int
) -> None:
    content = [
        _text("Compare these images."),
        IMAGE_FORMS["data_url_dict"],
        {"type": "image", "base64": b64(png(40, 40, shade=90)), "mime_type": "image/png"},
        {"type": "image_url", "image_url": {"url": data_url(png(20, 30, shade=30))}},
    ]
    one = _prompt_tokens(vision(), [_text("Compare these images."), IMAGE_FORMS["data_url_dict"]])
    three = _prompt_tokens(vision(), content)
    assert three == one + 2 * TOKENS_PER_IMAGE
    assert one > text_only_tokens


def test_a_large_image_is_resized_by_the_server(vision: Target, text_only_tokens: int) -> None:
    # 2000x1500 (9 MB of pixels) costs what a 64x48 picture costs: the tower sees 32x32.
    large = {"type": "image", "base64": b64(png(2000, 1500)), "mime_type": "image/png"}
    assert _prompt_tokens(vision(), [_text(), large]) == text_only_tokens + TOKENS_PER_IMAGE


def test_a_20_mb_image_is_accepted(vision: Target, text_only_tokens: int) -> None:
    # Neither llama.cpp nor LiteLLM as configured here caps a request's size: 27 MB of
    # JSON pass, and the image is resized like any other.
    heavy = noise_png(2600, 2600)
    assert len(heavy) > 20_000_000
    block = {"type": "image", "base64": b64(heavy), "mime_type": "image/png"}
    assert _prompt_tokens(vision(), [_text(), block]) == text_only_tokens + TOKENS_PER_IMAGE


def test_an_image_streams_and_is_counted(vision: Target, text_only_tokens: int) -> None:
    model = vision(stream_usage=True)
    chunks = list(model.stream([HumanMessage(content=[_text(), IMAGE_FORMS["data_url_dict"]])]))
    merged = reduce(add, chunks)
    assert isinstance(merged, AIMessageChunk)
    assert merged.usage_metadata is not None
    assert merged.usage_metadata["input_tokens"] == text_only_tokens + TOKENS_PER_IMAGE


async def test_an_image_is_accepted_async(vision: Target, text_only_tokens: int) -> None:
    message = HumanMessage(content=[_text(), IMAGE_FORMS["standard_base64"]])
    reply = await vision().ainvoke([message])
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] == text_only_tokens + TOKENS_PER_IMAGE


def _tool_turn(result: ToolMessage) -> list[Any]:
    return [
        HumanMessage(content="Show me a random image."),
        AIMessage(
            content="",
            tool_calls=[{"name": "random_image", "args": {}, "id": "1", "type": "tool_call"}],
        ),
        result,
    ]


def test_each_image_in_a_tool_result_reaches_the_model(vision: Target) -> None:
    # Tool results are text-only on the wire; their images follow in a user turn. The
    # text around them is the same for one image and two ("[N image(s) returned …]"),
    # so the difference is the second image's tokens. (The OpenAI form in a tool result
    # is sent by the standard test_image_tool_message below.)
    def tokens(images: int) -> int:
        blocks = [IMAGE_FORMS["standard_base64"]] * images
        result = ToolMessage(content=blocks, tool_call_id="1", name="random_image")
        usage = vision().invoke(_tool_turn(result)).usage_metadata
        assert usage is not None
        return usage["input_tokens"]

    assert tokens(2) == tokens(1) + TOKENS_PER_IMAGE


# -- LangChain's standard image tests ------------------------------------------------

# The picture the standard suite downloads (langchain-tests 1.x), served by the stand-in.
GITHUB = "raw.githubusercontent.com"
STANDARD_PICTURE = (
    "/langchain-ai/docs/4d11d08b6b0e210bd456943f7a22febbd168b543/src/images/agentic-rag-output.png"
)


class _StandardVision(ChatModelIntegrationTests):
    """The standard suite's image flags for the vision server (not collected itself).

    Only its image tests are run, by name, below: the rest of the suite runs against
    the same model without the projector in test_standard.py.
    """

    def __init__(self, target: Target) -> None:
        self.target = target

    @property
    def chat_model_class(self) -> type[ChatNebula]:
        return ChatNebula

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {**self.target.params, "max_tokens": 4}

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def supports_image_urls(self) -> bool:
        # True of the server (test_an_http_image_url_is_fetched_by_llama_cpp_itself), but
        # the suite's URL is GitHub's, and llama.cpp would fetch it from the internet.
        return False

    @property
    def supports_image_tool_message(self) -> bool:
        return True


@pytest.fixture(scope="module")
def github_stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    files = {STANDARD_PICTURE: ("image/png", png(300, 200, shade=60))}
    with stand_in(GITHUB, files, tmp_path_factory.mktemp("stand-in")) as state:
        yield state


@pytest.mark.parametrize("test", ["test_image_inputs", "test_image_tool_message"])
def test_the_standard_image_test_passes(
    vision: Target,
    github_stand_in: StandIn,
    monkeypatch: pytest.MonkeyPatch,
    test: str,
) -> None:
    suite = _StandardVision(vision)
    model = ChatNebula(**{**suite.standard_chat_model_params, **suite.chat_model_params})
    # Our pooled client for this timeout is made now, before the proxy settings exist:
    # they are meant for the suite's own download only.
    assert model.invoke("Hi").content is not None
    monkeypatch.setenv("HTTPS_PROXY", github_stand_in.proxy_url)
    monkeypatch.setenv("SSL_CERT_FILE", github_stand_in.ca_file)
    before = len(github_stand_in.served)
    getattr(suite, test)(model)
    assert github_stand_in.served[before:] == [GITHUB + STANDARD_PICTURE]
    assert github_stand_in.refused == []


# -- refusals from the real server: typed, in its words, not retried -----------------

BROKEN = {
    "corrupt": data_url(truncated_png()),
    "unsupported_format_svg": data_url(SVG, "image/svg+xml"),
    # stb_image refuses more than 2**30 bytes of pixels before allocating any.
    "oversized": data_url(png_claiming(20_000, 20_000)),
}


def _retries_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    # Each retry logs one DEBUG line ("… retry 1 of 3 in 0.50 s").
    return [r.getMessage() for r in caplog.records if " retry " in r.getMessage()]


@pytest.mark.parametrize("case", list(BROKEN))
def test_an_image_the_server_cannot_read_is_a_bad_request(
    vision: Target, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    message = HumanMessage(
        content=[_text(), {"type": "image_url", "image_url": {"url": BROKEN[case]}}]
    )
    with (
        caplog.at_level(logging.DEBUG, logger="langchain_nebula"),
        pytest.raises(NebulaBadRequestError) as caught,
    ):
        vision(max_retries=3).invoke([message])
    assert _retries_logged(caplog) == []
    assert caught.value.status_code == 400
    assert caught.value.retryable is False
    assert caught.value.message.startswith(NOT_AN_IMAGE)


def test_an_unsupported_format_from_a_url_is_a_bad_request(vision: Target, host: ImageHost) -> None:
    block = {"type": "image", "url": f"{host.url}/drawing.svg"}
    with pytest.raises(NebulaBadRequestError) as caught:
        vision().invoke([HumanMessage(content=[_text(), block])])
    assert caught.value.status_code == 400
    assert caught.value.message.startswith(NOT_AN_IMAGE)
    assert host.fetched[-1][0] == "/drawing.svg"


def test_an_image_url_that_is_not_found_is_a_server_error_and_retried(
    vision: Target, host: ImageHost, caplog: pytest.LogCaptureFixture
) -> None:
    # llama.cpp reports any failed download as its own 500, whatever the image host said;
    # a download may fail for a passing reason, so it is retried like any 5xx.
    block = {"type": "image", "url": f"{host.url}/missing.png"}
    before = len(host.fetched)
    with (
        caplog.at_level(logging.DEBUG, logger="langchain_nebula"),
        pytest.raises(NebulaServerError) as caught,
    ):
        vision(max_retries=1).invoke([HumanMessage(content=[_text(), block])])
    assert caught.value.status_code == 500
    assert caught.value.message.startswith("Failed to download image")
    assert len(_retries_logged(caplog)) == 1
    assert [path for path, _ in host.fetched[before:]] == ["/missing.png", "/missing.png"]


@pytest.fixture(params=["llamacpp", "litellm"])
def text_only(request: pytest.FixtureRequest) -> Target:
    """The plain (projector-less) server, directly or through LiteLLM's text alias."""
    if request.param == "llamacpp":
        return Target(request.getfixturevalue("local_base_url"), LOCAL_MODEL, None)
    return Target(request.getfixturevalue("litellm_base_url"), TEXT_MODEL, MASTER_KEY)


def test_an_image_to_a_text_only_model_is_refused_at_once(
    text_only: Target, caplog: pytest.LogCaptureFixture
) -> None:
    message = HumanMessage(content=[_text(), IMAGE_FORMS["data_url_dict"]])
    with (
        caplog.at_level(logging.DEBUG, logger="langchain_nebula"),
        pytest.raises(NebulaBadRequestError) as caught,
    ):
        text_only(max_retries=3).invoke([message])
    # A 500 whose words say the request can never succeed: not retried.
    assert _retries_logged(caplog) == []
    assert caught.value.status_code == 500
    assert caught.value.retryable is False
    assert caught.value.message.startswith(NO_VISION)


def test_an_image_url_to_a_text_only_model_is_refused_before_it_is_fetched(
    text_only: Target, host: ImageHost
) -> None:
    block = {"type": "image", "url": f"{host.url}/picture.png"}
    before = len(host.fetched)
    with pytest.raises(NebulaBadRequestError) as caught:
        text_only().invoke([HumanMessage(content=[_text(), block])])
    assert caught.value.message.startswith(NO_VISION)
    assert host.fetched[before:] == []  # neither LiteLLM nor llama.cpp went for it


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("data:image/png,iVBORw0KGgo", "malformed data URI"),
        ("data:image/png;base64,", "carries no image data"),
        ("data:text/plain;base64,aGVsbG8=", "only image/* is accepted"),
        ("ftp://127.0.0.1/picture.png", "must be http(s):// or a data: URI"),
    ],
)
def test_our_own_checks_fail_before_sending(vision: Target, url: str, words: str) -> None:
    # The real server would answer 400: a ValueError that is no NebulaError means it was
    # never asked.
    message = HumanMessage(content=[_text(), {"type": "image_url", "image_url": {"url": url}}])
    with pytest.raises(ValueError, match=re.escape(words)) as caught:
        vision().invoke([message])
    assert not isinstance(caught.value, NebulaError)
