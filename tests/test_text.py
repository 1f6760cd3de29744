"""Text normalization and sentence splitting: pure, so every expectation is pinned."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bedtime_audio.text import (
    normalize_text,
    number_words,
    ordinal_words,
    split_sentences,
    year_words,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\u201cHush,\u201d she said.", '"Hush," she said.'),
        ("It\u2019s late\u2026 very late.", "It's late... very late."),
        ("Well\u2014maybe not.", "Well, maybe not."),
        ("Well \u2013 maybe not.", "Well, maybe not."),
        ("Well -- maybe - not.", "Well, maybe, not."),
        ("She stopped\u2014.", "She stopped."),
        ("Pages 3\u20137.", "Pages three to seven."),
        ("Sleep  \n now.", "Sleep now."),
    ],
)
def test_punctuation_becomes_plain(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Dr. Lee and Mr. and Mrs. Brown met Ms. Gray.",
            "Doctor Lee and Mister and Missus Brown met Miz Gray.",
        ),
        ("Prof. Oak waved.", "Professor Oak waved."),
        ("Then St. Nicholas came.", "Then Saint Nicholas came."),
        ("They lived on Baker St. It was foggy.", "They lived on Baker Street. It was foggy."),
        ("Turn onto Elm Dr. and stop.", "Turn onto Elm Drive and stop."),
        ("Then Dr. Lee left.", "Then Doctor Lee left."),
        ("Fruit, e.g. plums, i.e. purple ones.", "Fruit, for example plums, that is purple ones."),
        ("E.g. this one.", "For example this one."),
        ("Owls, bats, etc. All asleep.", "Owls, bats, et cetera. All asleep."),
        ("Owls, bats, etc. and more.", "Owls, bats, et cetera and more."),
        ("Cats vs. dogs.", "Cats versus dogs."),
    ],
)
def test_abbreviations_are_spelled_out(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("At 3:45 a.m. the owl woke.", "At three forty-five A-M the owl woke."),
        ("Bed at 10 p.m. Lights out.", "Bed at ten P-M. Lights out."),
        ("Bed at 10 p.m.", "Bed at ten P-M."),
        ("Up at 7:05AM.", "Up at seven oh five A-M."),
        ("By 9pm, all quiet.", "By nine P-M, all quiet."),
        ("At 12:00 a.m. exactly.", "At twelve A-M exactly."),
        ("At 3:00 it rained.", "At three o'clock it rained."),
        ("At 15:30 it stopped.", "At fifteen thirty it stopped."),
        ("At 9:05 it started.", "At nine oh five it started."),
    ],
)
def test_times_are_read_as_times(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7 stars", "seven stars"),
        ("42 steps", "forty-two steps"),
        ("1,250 sheep", "one thousand two hundred fifty sheep"),
        ("1,000,000 wishes", "one million wishes"),
        ("3.14 pies", "three point one four pies"),
        ("-4 degrees", "minus four degrees"),
        ("50% off", "fifty percent off"),
        (
            "the 1st, 2nd, 3rd, 12th, 21st and 40th",
            "the first, second, third, twelfth, twenty-first and fortieth",
        ),
        ("in 1905 and 1999", "in nineteen oh five and nineteen ninety-nine"),
        ("in 1900 and 2024", "in nineteen hundred and two thousand twenty-four"),
        ("the 1990s", "the nineteen nineties"),
        ("agent 007", "agent zero zero seven"),
        ("room B12", "room B12"),
    ],
)
def test_numbers_become_words(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (13, "thirteen"),
        (20, "twenty"),
        (99, "ninety-nine"),
        (100, "one hundred"),
        (101, "one hundred one"),
        (1234, "one thousand two hundred thirty-four"),
        (2_000_005, "two million five"),
        (7_000_000_000, "seven billion"),
    ],
)
def test_number_words(n: int, words: str) -> None:
    assert number_words(n) == words


def test_ordinal_and_year_words() -> None:
    assert [ordinal_words(n) for n in (1, 5, 8, 9, 20, 101)] == [
        "first", "fifth", "eighth", "ninth", "twentieth", "one hundred first",
    ]  # fmt: skip
    assert [year_words(n) for n in (1066, 1100, 1850, 2001)] == [
        "one thousand sixty-six", "eleven hundred", "eighteen fifty", "two thousand one",
    ]  # fmt: skip


def test_lexicon_replaces_whole_words_keeping_case() -> None:
    lexicon = {"Nadine": "Nah-deen", "Siobhan": "Shi-vawn"}
    text = "Nadine, nadine and NADINE met Siobhan; Nadines did not."
    assert normalize_text(text, lexicon) == (
        "Nah-deen, nah-deen and NAH-DEEN met Shi-vawn; Nadines did not."
    )


def test_lexicon_applies_before_numbers_and_longest_first() -> None:
    lexicon = {"R2": "Are Two", "R2 D2": "Artoo Deetoo"}
    assert normalize_text("R2 D2 and r2 beeped.", lexicon) == "Artoo Deetoo and are Two beeped."


def test_normalizing_twice_changes_nothing() -> None:
    text = (
        "Dr. Lee\u2019s 3rd visit\u2014at 3:45 a.m.\u2026 1,250 sheep, e.g. Baker St. It was 1999."
    )
    once = normalize_text(text)
    assert once == (
        "Doctor Lee's third visit, at three forty-five A-M... one thousand two hundred fifty "
        "sheep, for example Baker Street. It was nineteen ninety-nine."
    )
    assert normalize_text(once) == once


def test_sentences_split_at_ends_but_not_inside_dialogue_or_trailing_off() -> None:
    text = normalize_text(
        'Dr. Who? "Where?" she asked. And then... nothing. "Sleep." It was 10 p.m. The end!'
    )
    assert split_sentences(text) == [
        "Doctor Who?",
        '"Where?" she asked.',
        "And then... nothing.",
        '"Sleep."',
        "It was ten P-M.",
        "The end!",
    ]


def test_empty_text_has_no_sentences() -> None:
    assert split_sentences("") == []
    assert split_sentences("  \n ") == []


def test_long_sentences_split_at_semicolons_then_commas_then_spaces() -> None:
    text = "One two three; four five six, seven eight nine, ten eleven."
    assert split_sentences(text, max_chars=30) == [
        "One two three; four five six,",
        "seven eight nine, ten eleven.",
    ]
    assert split_sentences(text, max_chars=40) == [
        "One two three;",
        "four five six, seven eight nine,",
        "ten eleven.",
    ]
    assert split_sentences("aaaa bbbb cccc", max_chars=9) == ["aaaa bbbb", "cccc"]
    assert split_sentences("abcdefghij", max_chars=4) == ["abcd", "efgh", "ij"]


@given(st.text(alphabet=st.sampled_from("ab ,;.!?\"'\n"), max_size=200), st.integers(1, 50))
def test_split_pieces_fit_and_keep_every_word(text: str, max_chars: int) -> None:
    pieces = split_sentences(text, max_chars)
    assert all(0 < len(piece) <= max_chars for piece in pieces)
    assert "".join("".join(pieces).split()) == "".join(text.split())
