"""The API key masked in every form a server may echo it, exactly, and nothing else."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest

from langchain_nebula._redaction import MASK, Redactor

KEY = "sk-live-0123456789abcdef"
# A key with characters that each encoding spells differently.
ODD_KEY = 'ak-0123456789/abc def+x"é'


def test_the_mask_is_three_asterisks() -> None:
    assert MASK == "***"


@pytest.mark.parametrize("secret", [None, "", "abc"])
def test_no_key_or_a_key_under_four_characters_masks_nothing(secret: str | None) -> None:
    redactor = Redactor(secret)
    assert bool(redactor) is False
    assert redactor.text("abc abcabc") == "abc abcabc"
    body = {"error": ["abc"]}
    assert redactor.value(body) is body


def test_a_four_character_key_is_masked_whole_wherever_it_is() -> None:
    redactor = Redactor("abcd")
    assert bool(redactor) is True
    assert redactor.text("abcd!abc abcd") == "***!abc ***"


@pytest.mark.parametrize(
    "form",
    [
        ODD_KEY,
        quote(ODD_KEY, safe=""),
        quote_plus(ODD_KEY),
        json.dumps(ODD_KEY)[1:-1],
        json.dumps(ODD_KEY)[1:-1].replace("/", "\\/"),
    ],
    ids=["raw", "url", "url-plus", "json", "json-slashes"],
)
def test_each_encoding_of_the_key_is_masked_whole(form: str) -> None:
    assert Redactor(ODD_KEY).text(f"key={form}; bye") == "key=***; bye"


def test_the_longest_form_matching_at_a_place_is_masked() -> None:
    # "abcd%" URL-encodes to "abcd%25": the raw form is a prefix of the encoded one.
    assert Redactor("abcd%").text("key=abcd%25 raw=abcd%") == "key=*** raw=***"


def test_every_occurrence_is_masked() -> None:
    assert Redactor(KEY).text(f"{KEY},{KEY} and {KEY}") == "***,*** and ***"


def test_a_run_of_twelve_characters_of_the_key_is_masked() -> None:
    assert Redactor(KEY).text("got 0123456789ab here") == "got *** here"


def test_a_run_of_eleven_characters_is_left_alone() -> None:
    assert Redactor(KEY).text("got 0123456789a here") == "got 0123456789a here"


def test_the_last_eleven_characters_alone_are_left_alone() -> None:
    assert Redactor(KEY).text("ends 56789abcdef.") == "ends 56789abcdef."


@pytest.mark.parametrize(
    ("secret", "before", "fragment_start"),
    [
        (KEY, "e", 5),
        (KEY, "l", 5),
        (KEY, "i-", 5),
        ("sk-abacus-0123456789", "=", 4),
    ],
)
def test_the_text_before_a_fragment_is_kept(secret: str, before: str, fragment_start: int) -> None:
    assert Redactor(secret).text(before + secret[fragment_start:]) == before + "***"


def test_a_key_cut_short_at_the_end_of_the_text_is_masked() -> None:
    assert Redactor(KEY).text("bad key " + KEY[:12]) == "bad key ***"


def test_a_key_cut_short_at_the_start_of_the_text_is_masked() -> None:
    assert Redactor(KEY).text(KEY[3:] + " -") == "*** -"


def test_the_character_before_a_fragment_is_kept() -> None:
    assert Redactor(KEY).text("of" + KEY[5:]) == "of***"


def test_the_character_before_the_key_is_kept_even_if_it_ends_the_key() -> None:
    assert Redactor(KEY).text("=f" + KEY + "!") == "=f***!"


def test_a_stretch_is_masked_as_far_as_the_form_it_matches_goes() -> None:
    # "ak-0123456789" begins every form: each occurrence grows along its own form.
    text = "x" * 40 + ODD_KEY + " then " + quote(ODD_KEY, safe="") + " end"
    assert Redactor(ODD_KEY).text(text) == "x" * 40 + "*** then *** end"


def test_empty_text_is_returned_as_is() -> None:
    assert Redactor(KEY).text("") == ""


def test_text_without_the_key_is_returned_unchanged() -> None:
    assert Redactor(KEY).text("nothing secret") == "nothing secret"


def test_a_value_that_is_a_string_is_masked() -> None:
    assert Redactor(KEY).value(f"x {KEY}") == "x ***"


def test_values_of_any_depth_are_masked_and_copied() -> None:
    body = {
        "error": {"message": f"bad {KEY}", "list": [KEY, 5, None, [f"({KEY})"]]},
        f"key {KEY}": True,
        7: KEY,
    }
    masked = Redactor(KEY).value(body)
    assert masked == {
        "error": {"message": "bad ***", "list": ["***", 5, None, ["(***)"]]},
        "key ***": True,
        7: "***",
    }
    assert body["error"]["list"][0] == KEY  # the original is untouched


def test_values_that_are_not_text_or_containers_are_returned_as_is() -> None:
    assert Redactor(KEY).value(12.5) == 12.5
    assert Redactor(KEY).value(None) is None


def test_a_very_deep_value_is_masked_without_recursion() -> None:
    deep: object = KEY
    for _ in range(5000):
        deep = [deep]
    masked = Redactor(KEY).value(deep)
    for _ in range(5000):
        assert isinstance(masked, list)
        masked = masked[0]
    assert masked == "***"
