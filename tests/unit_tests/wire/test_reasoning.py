"""Reasoning separated from the answer, exactly: what each piece of text returns.

``ReasoningSplitter`` is fed content in the pieces a stream delivers; these tests pin
the (reasoning, answer) each piece completes, what ``end`` releases, and the flags.
"""

from __future__ import annotations

from typing import Any

import pytest

from langchain_nebula._wire.reasoning import (
    ReasoningSplitter,
    TrimmedText,
    reasoning_field,
    split_reasoning,
)


def pieces(*texts: str, implicit_open: bool = False, finish_reason: Any = None) -> list[Any]:
    """What each piece returns, then what ``end`` returns."""
    splitter = ReasoningSplitter(implicit_open=implicit_open)
    return [splitter.feed(text) for text in texts] + [splitter.end(finish_reason)]


# -- reasoning fields ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"reasoning_content": "a", "reasoning": "b"}, "a"),
        ({"reasoning_content": "", "reasoning": "b"}, "b"),
        ({"reasoning_content": None, "reasoning": "b"}, "b"),
        ({"reasoning": "b"}, "b"),
        ({"reasoning_content": " "}, " "),
        ({"reasoning_content": 5}, None),
        ({"reasoning": ""}, None),
        ({"content": "x"}, None),
    ],
)
def test_the_reasoning_field_is_the_first_non_empty_one(
    message: dict[str, Any], field: str | None
) -> None:
    assert reasoning_field(message) == field


# -- trimming ----------------------------------------------------------------------------------


def test_trimmed_text_drops_leading_and_holds_trailing_whitespace() -> None:
    section = TrimmedText()
    assert [section.feed(t) for t in [" \n", "  a ", "", "  ", "b\n", "c "]] == [
        "",
        "a",
        "",
        "",
        "   b",
        "\nc",
    ]


def test_trimmed_text_has_started_once_it_saw_a_non_space() -> None:
    section = TrimmedText()
    section.feed("  ")
    assert section.started is False
    section.feed(" x")
    assert section.started is True


# -- explicit think sections -------------------------------------------------------------------


@pytest.mark.parametrize("implicit_open", [False, True])
def test_a_leading_think_section_is_reasoning(implicit_open: bool) -> None:
    assert pieces("<think> a b </think>\n answer ", implicit_open=implicit_open) == [
        ("a b", "answer "),
        ("", ""),
    ]


def test_the_first_closing_tag_ends_an_opened_section() -> None:
    assert pieces("<think>a</think>b</think>c") == [("a", "b</think>c"), ("", "")]


def test_thinking_tags_are_accepted_too() -> None:
    assert pieces("<thinking>x</thinking>y") == [("x", "y"), ("", "")]


def test_a_think_close_does_not_end_a_thinking_section() -> None:
    assert pieces("<thinking>x</think>y</thinking>z") == [("x</think>y", "z"), ("", "")]


def test_whitespace_before_the_opening_tag_is_skipped() -> None:
    assert pieces("\n <think>r</think>a") == [("r", "a"), ("", "")]


def test_reasoning_is_released_as_it_arrives() -> None:
    assert pieces("<think>abc", "def", "</think>", "ans") == [
        ("abc", ""),
        ("def", ""),
        ("", ""),
        ("", "ans"),
        ("", ""),
    ]


def test_a_closing_tag_split_across_pieces_is_never_released_in_part() -> None:
    assert pieces("<think>ab</th", "ink>c") == [("ab", ""), ("", "c"), ("", "")]


def test_a_possible_closing_tag_that_is_not_one_is_released_later() -> None:
    assert pieces("<think>a</", "b") == [("a", ""), ("</b", ""), ("", "")]


def test_an_opening_tag_split_across_pieces_is_recognised() -> None:
    assert pieces("<th", "ink>r</think>a") == [("", ""), ("r", "a"), ("", "")]


def test_whitespace_before_the_answer_is_dropped_across_pieces() -> None:
    assert pieces("<think>r</think>", " \n", "  a b") == [
        ("r", ""),
        ("", ""),
        ("", "a b"),
        ("", ""),
    ]


def test_a_reply_ending_inside_its_reasoning_is_unfinished() -> None:
    splitter = ReasoningSplitter(implicit_open=False)
    assert splitter.feed("<think>abc</thi") == ("abc", "")
    assert splitter.end() == ("</thi", "")
    assert (splitter.unfinished, splitter.sectioned) == (True, True)


def test_a_prefix_of_an_opening_tag_at_the_end_is_the_answer() -> None:
    splitter = ReasoningSplitter(implicit_open=False)
    assert splitter.feed("<thi") == ("", "")
    assert splitter.end("stop") == ("", "<thi")
    assert (splitter.unfinished, splitter.sectioned) == (False, False)


def test_only_whitespace_is_an_empty_answer() -> None:
    assert pieces("  ", "\n") == [("", ""), ("", ""), ("", "  \n")]


# -- plain replies and the decided flag --------------------------------------------------------


def test_a_reply_without_a_leading_tag_is_the_answer_at_once() -> None:
    splitter = ReasoningSplitter(implicit_open=False)
    assert splitter.feed(" plain <think>x</think>") == ("", " plain <think>x</think>")
    assert splitter.decided is True
    assert splitter.feed(" more") == ("", " more")
    assert splitter.end() == ("", "")
    assert (splitter.unfinished, splitter.sectioned) == (False, False)


def test_after_a_section_the_splitter_decides_once_the_answer_starts() -> None:
    splitter = ReasoningSplitter(implicit_open=False)
    splitter.feed("<think>r</think>")
    assert splitter.decided is False
    splitter.feed("  ")
    assert splitter.decided is False
    splitter.feed("a")
    assert splitter.decided is True


def test_a_new_splitter_is_undecided() -> None:
    assert ReasoningSplitter(implicit_open=False).decided is False


# -- implicit opening tag (models whose template opened the section) ---------------------------


def test_text_before_a_bare_closing_tag_is_reasoning() -> None:
    splitter = ReasoningSplitter(implicit_open=True)
    assert splitter.feed("why") == ("", "")
    assert splitter.feed(" so </think> ans") == ("why so", "ans")
    assert splitter.sectioned is True


def test_a_bare_closing_tag_split_across_pieces_is_found() -> None:
    assert pieces("r1 </thi", "nk>a", implicit_open=True) == [
        ("", ""),
        ("r1", "a"),
        ("", ""),
    ]


def test_a_bare_closing_tag_is_found_after_many_pieces() -> None:
    assert pieces("a", "b", "c", "d", "e", "f", "g", "h", "</think>z", implicit_open=True) == [
        *[("", "")] * 8,
        ("abcdefgh", "z"),
        ("", ""),
    ]


def test_a_bare_closing_tag_missing_only_its_last_character_is_found() -> None:
    assert pieces("why", "a</think", ">b", implicit_open=True) == [
        ("", ""),
        ("", ""),
        ("whya", "b"),
        ("", ""),
    ]


def test_a_bare_closing_tag_at_the_very_start_is_an_empty_reasoning() -> None:
    splitter = ReasoningSplitter(implicit_open=True)
    assert splitter.feed("</think>answer") == ("", "answer")
    assert splitter.sectioned is True


def test_the_first_bare_closing_tag_ends_the_reasoning() -> None:
    assert pieces("a</think>b</think>c", implicit_open=True) == [("a", "b</think>c"), ("", "")]


def test_the_first_bare_closing_tag_of_a_later_piece_ends_the_reasoning() -> None:
    assert pieces("x", "a</think>b</think>c", implicit_open=True) == [
        ("", ""),
        ("xa", "b</think>c"),
        ("", ""),
    ]


def test_held_text_with_no_closing_tag_is_the_answer_when_the_reply_finishes() -> None:
    splitter = ReasoningSplitter(implicit_open=True)
    assert splitter.feed("just ") == ("", "")
    assert splitter.feed("an answer") == ("", "")
    assert splitter.end("stop") == ("", "just an answer")
    assert (splitter.unfinished, splitter.sectioned) == (False, False)


def test_held_text_cut_by_the_length_limit_is_unfinished_reasoning() -> None:
    splitter = ReasoningSplitter(implicit_open=True)
    splitter.feed(" thinking ")
    assert splitter.end("length") == ("thinking", "")
    assert (splitter.unfinished, splitter.sectioned) == (True, True)


def test_whitespace_cut_by_the_length_limit_is_the_answer() -> None:
    assert pieces(" \n", implicit_open=True, finish_reason="length") == [("", ""), ("", " \n")]


def test_without_an_implicit_opening_the_length_limit_keeps_the_answer() -> None:
    assert pieces("<thi", finish_reason="length") == [("", ""), ("", "<thi")]


# -- whole replies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "implicit_open", "finish_reason", "split"),
    [
        ("<think>r</think>a", False, "stop", ("r", "a", False)),
        ("<think>r", False, "stop", ("r", "", True)),
        ("r</think>a", True, "stop", ("r", "a", False)),
        ("r</think>a", False, "stop", ("", "r</think>a", False)),
        ("text", True, "stop", ("", "text", False)),
        ("text", True, "length", ("text", "", True)),
        ("text", False, "length", ("", "text", False)),
    ],
)
def test_split_reasoning_of_a_whole_reply(
    content: str, implicit_open: bool, finish_reason: str, split: tuple[str, str, bool]
) -> None:
    assert split_reasoning(content, implicit_open=implicit_open, finish_reason=finish_reason) == (
        split
    )
