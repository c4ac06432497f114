"""The probe against scripted servers: what each check sends, and how each answer reads.

The scripted server answers the probe's requests in order: tool_choice auto, required,
named; json_schema; the image; the reasoning question; then ``GET /models``.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import struct
import zlib
from typing import Any

import pytest

from langchain_nebula import NebulaAuthenticationError, NebulaConnectionError
from langchain_nebula.probe import aprobe, main, probe, probe_report, tiny_png
from tests.conftest import API_KEY
from tests.scripted_server import ScriptedServer, completion

MODEL = "vendor/probed-model"
USAGE = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
WEATHER_CALL = [
    {
        "id": "call-1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
]
MODELS = {
    "object": "list",
    "data": [
        {"id": MODEL, "object": "model", "max_input_tokens": 32768, "max_output_tokens": 4096},
        {"id": "vendor/other-model", "object": "model", "max_input_tokens": 8192},
    ],
}
REFUSED = {"error": {"message": "image input is not supported", "code": 400}}


def reply(content: str | None = "ok", **message: Any) -> dict[str, Any]:
    return completion(content, model=MODEL, usage=USAGE, **message)


def tool_reply() -> dict[str, Any]:
    return reply(None, tool_calls=WEATHER_CALL, finish_reason="tool_calls")


def script_capable(server: ScriptedServer) -> None:
    """A deployment that does everything: tools, json_schema, images, reasoning."""
    for _ in range(3):
        server.reply_json(tool_reply())
    server.reply_json(reply('{"answer": 5}'))
    server.reply_json(reply("Red."))
    server.reply_json(reply("42", reasoning_content="17 + 25 is 42."))
    server.reply_json(MODELS)


def run_probe(server: ScriptedServer, **options: Any) -> Any:
    options.setdefault("api_key", API_KEY)
    return probe_report(MODEL, base_url=server.base_url, max_retries=0, **options)


def test_each_check_sends_one_small_request_in_its_form(server: ScriptedServer) -> None:
    script_capable(server)

    run_probe(server)

    chats = [r.json for r in server.requests[:6]]
    assert [body["max_tokens"] for body in chats] == [48] * 6
    assert all(body["temperature"] == 0 and body["model"] == MODEL for body in chats)
    assert [body.get("tool_choice") for body in chats[:3]] == [
        "auto",
        "required",
        {"type": "function", "function": {"name": "get_weather"}},
    ]
    assert [[t["function"]["name"] for t in body["tools"]] for body in chats[:3]] == [
        ["get_weather", "get_time"]
    ] * 3
    assert chats[3]["response_format"]["type"] == "json_schema"
    assert chats[3]["response_format"]["json_schema"]["schema"]["required"] == ["answer"]
    image = chats[4]["messages"][0]["content"][1]
    assert image["type"] == "image_url"
    assert image["image_url"]["url"].startswith("data:image/png;base64,")
    assert "tools" not in chats[5]
    assert "response_format" not in chats[5]
    listing = server.requests[6]
    assert (listing.method, listing.path) == ("GET", "/v1/models")
    assert len(server.requests) == 7


def test_a_deployment_that_does_everything_gets_every_key_true_and_its_limits(
    server: ScriptedServer,
) -> None:
    script_capable(server)

    report = run_probe(server)

    assert report.profile == {
        "tool_calling": True,
        "tool_choice": True,
        "structured_output": True,
        "image_inputs": True,
        "reasoning_output": True,
        "max_input_tokens": 32768,
        "max_output_tokens": 4096,
    }
    assert report.tool_choice_forms == ("auto", "required", "named")
    assert report.reasoning_form == "field"


def test_the_cost_is_the_usage_summed_over_the_requests(server: ScriptedServer) -> None:
    script_capable(server)

    report = run_probe(server)

    assert (report.requests, report.input_tokens, report.output_tokens) == (7, 600, 60)
    assert report.total_tokens == 660


def test_refused_checks_are_false_and_the_probe_goes_on(server: ScriptedServer) -> None:
    server.reply_json(reply("I cannot call tools."))  # auto: text
    server.reply_json({"error": {"message": "tool_choice required unsupported"}}, status=400)
    server.reply_json(tool_reply())  # named
    server.reply_json(reply("five"))  # json_schema ignored
    server.reply_json(REFUSED, status=400)  # image
    server.reply_json(reply("42"))
    server.reply_json(MODELS)

    report = run_probe(server)

    assert report.profile["tool_calling"] is True  # the named choice made it call
    assert report.profile["tool_choice"] is True
    assert report.tool_choice_forms == ("named",)
    assert report.profile["structured_output"] is False
    assert report.profile["image_inputs"] is False
    assert report.profile["reasoning_output"] is False
    refused = {check.name: check for check in report.checks if not check.accepted}
    assert sorted(refused) == ["image (data URL)", "tool_choice=required"]
    assert refused["image (data URL)"].detail == "refused: 400 image input is not supported"


def test_a_model_that_never_calls_a_tool_has_neither_tool_key(server: ScriptedServer) -> None:
    for _ in range(3):
        server.reply_json(reply("Sunny, I think."))

    profile = probe(
        MODEL, base_url=server.base_url, api_key=API_KEY, checks=["tools"], max_retries=0
    )

    assert profile == {"tool_calling": False, "tool_choice": False}


def test_a_server_error_after_the_retries_is_a_no(server: ScriptedServer) -> None:
    server.reply_json({"error": {"message": "grammar crashed"}}, status=500)

    report = run_probe(server, checks=["json_schema"])

    assert report.profile == {"structured_output": False}
    assert report.checks[0].detail == "refused: 500 grammar crashed"


def test_a_json_reply_of_another_shape_is_not_structured_output(server: ScriptedServer) -> None:
    server.reply_json(reply('{"result": "five"}'))

    assert run_probe(server, checks=["json_schema"]).profile == {"structured_output": False}


def test_think_tags_in_the_text_are_reasoning_in_tags(server: ScriptedServer) -> None:
    server.reply_json(reply("<think>\n17 + 25 = 42\n</think>\n\n42"))

    report = run_probe(server, checks=["reasoning"])

    assert report.profile == {"reasoning_output": True}
    assert report.reasoning_form == "tags"


def test_a_closing_tag_alone_is_reasoning_in_tags(server: ScriptedServer) -> None:
    # R1's chat template opens <think> itself: the reply starts inside it.
    server.reply_json(reply("17 + 25 = 42\n</think>\n\n42"))

    assert run_probe(server, checks=["reasoning"]).reasoning_form == "tags"


def test_a_reasoning_field_newer_vllm_style_is_reasoning_in_a_field(
    server: ScriptedServer,
) -> None:
    server.reply_json(reply("42", reasoning="Add the tens, then the units."))

    report = run_probe(server, checks=["reasoning"])

    assert (report.profile, report.reasoning_form) == ({"reasoning_output": True}, "field")


def test_an_image_url_is_checked_only_when_given(server: ScriptedServer) -> None:
    server.reply_json(reply("Red."))
    server.reply_json(REFUSED, status=400)

    report = run_probe(server, checks=["image"], image_url="https://example.com/cat.png")

    assert report.profile == {"image_inputs": True, "image_url_inputs": False}
    sent = server.requests[1].json["messages"][0]["content"][1]["image_url"]["url"]
    assert sent == "https://example.com/cat.png"


def test_a_server_without_a_model_list_leaves_the_limits_unknown(server: ScriptedServer) -> None:
    server.reply_json({"error": {"message": "Not Found"}}, status=404)

    report = run_probe(server, checks=["context"])

    assert report.profile == {}
    assert report.checks[0].detail.startswith("no model list at ")
    assert report.total_tokens == 0


def test_a_server_listing_one_model_under_another_id_serves_it(server: ScriptedServer) -> None:
    # llama.cpp answers to any model id and lists the one it serves, with meta.n_ctx.
    listing = {"data": [{"id": "SmolLM2-135M-Instruct", "meta": {"n_ctx": 8192}}]}
    server.reply_json(listing)

    assert run_probe(server, checks=["context"]).profile == {"max_input_tokens": 8192}


def test_a_list_of_many_models_without_this_one_gives_no_limits(server: ScriptedServer) -> None:
    server.reply_json({"data": [{"id": "a", "max_input_tokens": 1}, {"id": "b"}]})

    report = run_probe(server, checks=["context"])

    assert report.profile == {}
    assert report.checks[0].detail == (
        f"2 models listed at {server.base_url}/models, none is {MODEL!r}"
    )


def test_a_rejected_key_is_raised_not_read_as_a_missing_capability(
    server: ScriptedServer,
) -> None:
    server.reply_json({"error": {"message": "invalid key"}}, status=401)

    with pytest.raises(NebulaAuthenticationError):
        run_probe(server)
    assert len(server.requests) == 1


def test_no_server_is_raised() -> None:
    with pytest.raises(NebulaConnectionError):
        probe(MODEL, base_url="http://127.0.0.1:9/v1", api_key=None, max_retries=0)


def test_the_explicit_key_goes_to_the_model_list_too(server: ScriptedServer) -> None:
    server.reply_json(MODELS)

    run_probe(server, checks=["context"])

    assert server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


def test_the_environment_key_is_not_sent_to_another_host(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEBULA_API_KEY", API_KEY)
    server.reply_json(reply("42"))
    server.reply_json(MODELS)

    probe(MODEL, base_url=server.base_url, checks=["reasoning", "context"], max_retries=0)

    assert [r.headers.get("authorization") for r in server.requests] == [None, None]


def test_the_async_probe_sends_the_same_requests_and_finds_the_same(
    server: ScriptedServer,
) -> None:
    script_capable(server)
    expected = run_probe(server).profile
    sync_bodies = [r.body for r in server.requests]
    server.requests.clear()
    script_capable(server)

    found = asyncio.run(aprobe(MODEL, base_url=server.base_url, api_key=API_KEY, max_retries=0))

    assert found == expected
    assert [r.body for r in server.requests] == sync_bodies


def test_the_command_line_prints_the_checks_the_cost_and_a_dict_literal(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    script_capable(server)

    code = main([MODEL, "--base-url", server.base_url, "--api-key", API_KEY])

    out = capsys.readouterr().out
    assert code == 0
    assert "# cost: 7 requests, 660 tokens (600 in, 60 out)" in out
    assert "#   yes tool_choice=required: called get_weather" in out
    literal = "\n".join(line for line in out.splitlines() if not line.startswith("#"))
    assert ast.literal_eval(literal)["max_input_tokens"] == 32768
    assert API_KEY not in out


def test_the_command_line_says_why_it_could_not_ask(capsys: pytest.CaptureFixture[str]) -> None:
    code = main([MODEL, "--base-url", "http://127.0.0.1:9/v1", "--no-key", "--checks", "tools"])

    assert code == 1
    assert capsys.readouterr().err.startswith("error: the probe could not ask: ")


def test_the_command_line_refuses_an_unknown_check() -> None:
    with pytest.raises(SystemExit) as caught:
        main([MODEL, "--checks", "tools,telepathy"])
    assert caught.value.code == 2


def test_the_probe_image_is_a_valid_png() -> None:
    image = tiny_png(3, 2, (1, 2, 3))
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", image[16:24])
    assert (width, height) == (3, 2)
    compressed_length = struct.unpack(">I", image[33:37])[0]
    assert image[37:41] == b"IDAT"
    pixels = zlib.decompress(image[41 : 41 + compressed_length])
    assert pixels == (b"\x00" + b"\x01\x02\x03" * 3) * 2
    assert base64.b64decode(base64.b64encode(image)) == image


def test_the_report_reads_as_the_command_line_shows_it(server: ScriptedServer) -> None:
    server.reply_json(reply('{"answer": 5}'))

    text = run_probe(server, checks=["json_schema"]).describe()

    assert text.splitlines()[1] == '#   yes response_format=json_schema: parsed {"answer": 5}'
    assert ast.literal_eval(text.splitlines()[-1]) == {"structured_output": True}
