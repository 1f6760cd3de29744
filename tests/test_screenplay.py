"""The Fountain importer: a producer's screenplay becomes a scene script they can render."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bedtime_audio.errors import BedtimeError, DependencyError
from bedtime_audio.screenplay import ScreenplayError, import_fountain

DATA = Path(__file__).parent / "data"
NIGHT_SHIFT = DATA / "night-shift.fountain"


@pytest.fixture(scope="module")
def text() -> str:
    return import_fountain(NIGHT_SHIFT)


@pytest.fixture(scope="module")
def script(text: str) -> dict[str, Any]:
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


def _lines(script: dict[str, Any], chapter: int, scene: int) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = script["chapters"][chapter]["scenes"][scene]["lines"]
    return lines


def _import(tmp_path: Path, fountain: str, name: str = "story.fountain") -> str:
    path = tmp_path / name
    path.write_text(fountain, encoding="utf-8")
    return import_fountain(path)


def test_the_title_page_gives_title_author_and_description(script: dict[str, Any]) -> None:
    assert script["title"] == "Night Shift"  # **Night Shift**: emphasis stripped
    assert script["author"] == "A. Writer"  # Author: wins over the Credit: line
    assert script["description"] == (
        "In a city whose sleep is run by machines, one glitch teaches a night technician"
        " and her son how to rest on their own."
    )


def test_character_cues_become_the_cast_without_their_extensions(script: dict[str, Any]) -> None:
    # LULL (V.O.), ORIN (O.S.), MARA (CONT'D) and the dual-dialogue MARA^ are one speaker each
    assert script["cast"] == {
        "narrator": "The storyteller",
        "lull": "Lull",
        "mara": "Mara",
        "orin": "Orin",
    }


def test_top_level_sections_become_chapters_and_empty_ones_are_dropped(
    script: dict[str, Any],
) -> None:
    # action before the first section makes a chapter named after the screenplay; the
    # '## The rooftop' subsection is not a chapter; '# Interlude' has nothing to hear
    assert [c["title"] for c in script["chapters"]] == [
        "Night Shift",
        "Part One: The Grid",
        "Part Two: The Glitch",
        "Part Three: The Long Way Down",
    ]


def test_scene_headings_become_scene_titles(script: dict[str, Any]) -> None:
    titles = [[s.get("title") for s in c["scenes"]] for c in script["chapters"]]
    assert titles == [
        [None],  # the opening action, before any scene heading
        ["INT. LULL CONTROL ROOM - NIGHT", "EXT. ROOFTOP GARDEN - CONTINUOUS"],  # #1# dropped
        ["INT. LULL CONTROL ROOM - LATER", "INT. ORIN'S ROOM - NIGHT"],
        ["THE LAST WINDOW"],  # a forced .heading
    ]
    assert _lines(script, 0, 0) == [
        {"narrator": "The city of Lowmere never switched off. It only dimmed."}
    ]


def test_action_dialogue_and_parentheticals_become_lines(script: dict[str, Any]) -> None:
    assert _lines(script, 1, 0) == [
        {
            "narrator": "Rows of blue screens breathe in and out."
            " Each one is a district, asleep on schedule."
        },
        {"sfx": "chime"},
        {"narrator": "Mara sits at the night desk with a mug of tea going cold."},
        {"lull": "District nine is asleep. District ten is drifting.", "gain_db": -4},
        {"mara": "Good. Keep them drifting."},  # (to the console): not mapped
        {"pause": 1},  # (beat)
        {"mara": "Keep them all drifting."},  # **all**: emphasis stripped
        {"orin": "Mum? The hum stopped.", "speed": 0.85},  # (sleepily)
        # the boneyard /* ORIN ... */ is skipped
        {"mara": "It never stops, love. Go back to bed."},  # (smiling): not mapped
    ]
    # CUT TO: is skipped; a subsection heading is not read
    assert _lines(script, 1, 1) == [
        {"sfx": "kettle"},
        {"narrator": "Wind moves through the planters. Somewhere, a tram hums along its rail."},
    ]


def test_the_glitch_scene(script: dict[str, Any]) -> None:
    assert _lines(script, 2, 0) == [
        {"sfx": "glitch"},  # 'stutter and flicker'
        {
            "narrator": "Every screen goes dark at once."
            " Then, one by one, they blink back as plain grey."
        },
        {"lull": "Schedule... schedule... sch..."},
        {"pause": 3},  # (a long pause)
        {"lull": "I have lost the schedule."},
        {"mara": "No, no, no.", "gain_db": -4},  # (under her breath)
        {"mara": "Run the backup."},  # MARA (CONT'D)
    ]


def test_dual_dialogue_is_spoken_left_then_right(script: dict[str, Any]) -> None:
    assert _lines(script, 2, 1) == [
        {"narrator": "The window is open. For the first time in years, the city outside is quiet."},
        {"sfx": "owl"},
        {"orin": "Is that a real bird?"},
        {"mara": "That's a real owl."},
    ]


def test_lyrics_centered_text_and_several_effects_in_one_cue(script: dict[str, Any]) -> None:
    assert _lines(script, 3, 0) == [
        {"sfx": "footsteps"},  # in the order the cue mentions them
        {"sfx": "door"},
        {"narrator": "Mara sits on the edge of the bed. Orin's breathing slows."},
        {"orin": "Will the Lull come back?", "speed": 0.85},  # (drowsy)
        {"mara": "Maybe tomorrow.", "gain_db": -4},  # (softly, to Orin)
        {"pause": 1},  # (pause)
        {"mara": "Tonight we do it the old way."},
        {"mara": "Hush now, the lamps are low, the river knows the way to go."},  # sung
        {"sfx": "page-turn"},
        {"sfx": "heartbeat"},
        {"narrator": "Sleep, little city, sleep."},  # lyrics outside a speech
        {"narrator": "THE END"},  # > THE END <; FADE OUT. is skipped
    ]


def test_cues_without_an_effect_and_music_are_left_as_comments(text: str) -> None:
    rows = text.splitlines()
    at = rows.index("          - mara: Run the backup.")
    assert rows[at + 1 : at + 3] == [
        "          # SOUND: the rattle of a delivery drone, far off. (no matching effect)",
        "          # MUSIC: a slow music-box melody, very far away."
        " (add music: {file: ...} to this scene)",
    ]


def test_unmapped_parentheticals_are_listed_at_the_end(text: str) -> None:
    assert text.splitlines()[-1] == (
        "# not mapped: (to the console) line 31, (smiling) line 44, (to Lull) line 75,"
        " (to Orin) line 117"
    )


def test_what_is_only_for_the_page_is_left_out(text: str) -> None:
    for absent in ("CUT TO", "FADE OUT", "montage", "[[", "Nobody in Lowmere", "===", "Interlude"):
        assert absent not in text
    for markup in ("*", "_grey_", "dimmed_"):
        assert markup not in text


def test_the_script_is_two_space_indented_like_the_hand_written_ones(text: str) -> None:
    assert text.startswith("# Imported from night-shift.fountain")
    assert "\ncast:\n  narrator: The storyteller\n  lull: Lull\n" in text
    assert "\nchapters:\n  - title: Night Shift\n    scenes:\n      - lines:\n          - " in text
    assert "          - orin: Mum? The hum stopped.\n            speed: 0.85\n" in text


def test_the_import_is_a_script_the_renderer_reads(text: str, tmp_path: Path) -> None:
    from bedtime_audio.script import parse_script  # here, so the importer's tests stand alone

    path = tmp_path / "night-shift.yaml"
    path.write_text(text, encoding="utf-8")
    script = parse_script(path)
    assert script.title == "Night Shift"
    assert [chapter.title for chapter in script.chapters][-1] == "Part Three: The Long Way Down"


def test_the_same_screenplay_always_gives_the_same_script(text: str, tmp_path: Path) -> None:
    copy = tmp_path / "night-shift.fountain"
    copy.write_bytes(NIGHT_SHIFT.read_bytes())
    assert import_fountain(NIGHT_SHIFT) == text
    assert import_fountain(copy) == text


def test_speaker_ids_are_safe_and_the_title_falls_back_to_the_file_name(tmp_path: Path) -> None:
    text = _import(
        tmp_path,
        "INT. CLINIC - NIGHT\n\nDR. OSEI\nBreathe out.\n\nVOICE\nLights down.\n\n"
        "NO\nYes.\n\nDR. OSEI\n...\n",
        name="the_quiet-hour.fountain",
    )
    script = yaml.safe_load(text)
    assert script["title"] == "The Quiet Hour"
    assert "author" not in script and "description" not in script
    assert script["cast"] == {
        "narrator": "The storyteller",
        "dr-osei": "Dr. Osei",
        "voice-2": "Voice",  # 'voice' is a line key
        "no": "No",  # quoted, so YAML does not read it as false
    }
    assert _lines(script, 0, 0) == [
        {"dr-osei": "Breathe out."},
        {"voice-2": "Lights down."},
        {"no": "Yes."},
        {"pause": 1},  # a line without a word is a beat
    ]


def test_a_missing_screenplay_is_named(tmp_path: Path) -> None:
    path = tmp_path / "missing.fountain"
    with pytest.raises(ScreenplayError) as caught:
        import_fountain(path)
    assert str(caught.value) == f"{path}: cannot read the screenplay: No such file or directory"
    assert isinstance(caught.value, BedtimeError)


def test_a_screenplay_with_nothing_to_hear_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ScreenplayError, match=r"story\.fountain: nothing to import"):
        _import(
            tmp_path,
            "Title: Empty\n\n# Act One\n\nINT. NOWHERE - NIGHT\n\n= Nothing happens.\n\n"
            "[[A note.]]\n\nCUT TO:\n\n===\n",
        )


def test_an_unclosed_boneyard_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "story.fountain"
    with pytest.raises(ScreenplayError) as caught:
        _import(tmp_path, "INT. ROOM - NIGHT\n\nIt is late.\n\n/* cut from here\n\nMore.\n")
    assert str(caught.value) == (f"{path}:5: Boneyard comment opened with '/*' but never closed")


def test_without_fountain_py_the_producer_is_told_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "fountain", None)  # import fountain → ImportError
    with pytest.raises(DependencyError, match=r"pip install 'bedtime-audio\[fountain\]'"):
        import_fountain(NIGHT_SHIFT)


def test_bedtime_import_writes_a_script_that_checks_and_renders(tmp_path: Path) -> None:
    """As a producer types it, from the folder the screenplay is in: import, check, render."""
    from conftest import BEDTIME

    def bedtime(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([BEDTIME, *args], cwd=tmp_path, capture_output=True, text=True)

    shutil.copy(NIGHT_SHIFT, tmp_path)
    (tmp_path / "scripts").mkdir()
    done = bedtime("import", "night-shift.fountain", "-o", "scripts/night-shift.yaml")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("wrote scripts/night-shift.yaml")
    assert (tmp_path / "scripts" / "night-shift.yaml").read_text() == import_fountain(NIGHT_SHIFT)
    again = bedtime("import", "night-shift.fountain", "-o", "scripts/night-shift.yaml")
    assert again.returncode == 1 and "writes no file over another" in again.stderr
    checked = bedtime("check", "scripts/night-shift.yaml", "--engine", "pyttsx3")
    assert checked.returncode == 0, checked.stderr
    assert "4 chapters" in checked.stdout
    rendered = bedtime("render", "scripts/night-shift.yaml", "--draft", "--tail", "0", "-q")
    assert rendered.returncode == 0, rendered.stderr
    report = json.loads((tmp_path / "output" / "night-shift" / "render.json").read_text())
    assert [c["title"] for c in report["chapters"]][1] == "Part One: The Grid"
    assert {"lull", "mara", "orin", "narrator"} == {line["speaker"] for line in report["lines"]}


def test_a_less_than_sign_in_the_screenplay_is_said_not_read_as_a_tag(tmp_path: Path) -> None:
    from bedtime_audio.script import parse_script

    text = _import(tmp_path, "INT. ROOM - NIGHT\n\nThe sign reads 3 < 4.\n")
    script = tmp_path / "sign.yaml"
    script.write_text(text)
    (speech,) = parse_script(script).speeches
    assert speech.text == "The sign reads 3 < 4."
