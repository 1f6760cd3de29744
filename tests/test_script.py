from pathlib import Path

import pytest

from bedtime_audio.errors import ScriptError, ScriptErrors
from bedtime_audio.model import Layer, Pacing, Pause, Speech
from bedtime_audio.script import parse_script

DATA = Path(__file__).parent / "data"
BAD = DATA / "bad"


def test_tiny_script_parses_into_chapters_scenes_and_lines() -> None:
    script = parse_script(DATA / "tiny.yaml")
    assert script.slug == "tiny"
    assert script.title == "The Tiny Night"
    assert list(script.cast) == ["narrator", "lena", "kai"]
    assert [c.title for c in script.chapters] == ["The Humming City", "Rain at Last"]
    first, second = script.chapters[0].scenes
    assert first.title == "The Panel"
    assert first.soundscape == (Layer("server-hum"), Layer("digital-drone"))
    assert second.soundscape == (Layer("glitch", gain_db=-6.0), Layer("digital-drone"))
    assert second.lines[0] == Pause(1.5, line=19)
    assert first.lines[1] == Speech("lena", "Are we still dreaming?", line=15)
    assert len(script.speeches) == 7


def test_a_chapter_without_soundscape_continues_the_previous_bed(tmp_path: Path) -> None:
    path = tmp_path / "beds.yaml"
    path.write_text(
        "title: Beds\ncast: {narrator: n}\nchapters:\n"
        "  - title: A\n    scenes: [{lines: [{narrator: hi}]}]\n"
        "  - title: B\n    soundscape: rain\n    scenes: [{lines: [{narrator: hi}]}]\n"
        "  - title: C\n    scenes: [{lines: [{narrator: hi}]}]\n"
    )
    beds = [c.soundscape for c in parse_script(path).chapters]
    assert beds == [(Layer("brown-noise"),), (Layer("rain"),), (Layer("rain"),)]


def _errors(name: str) -> list[str]:
    with pytest.raises((ScriptError, ScriptErrors)) as caught:
        parse_script(BAD / name)
    return str(caught.value).splitlines()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "unknown-speaker.yaml",
            ["10: chapters[0].scenes[0].lines[1]: unknown speaker 'owl' (cast: lena, narrator)"],
        ),
        (
            "typo-key.yaml",
            [
                "5: chapters[0]: missing required key 'scenes'",
                "6: chapters[0]: unknown key 'scens' (did you mean 'scenes'?)"
                " (expected: title, scenes, soundscape)",
            ],
        ),
        (
            "bad-pause.yaml",
            [
                "9: chapters[0].scenes[0].lines[1]: pause must be > 0 and <= 60 seconds",
                "10: chapters[0].scenes[0].lines[2]: pause must be > 0 and <= 60 seconds",
                "11: chapters[0].scenes[0].lines[3]: expected a number, got 'soon'",
            ],
        ),
        ("no-title.yaml", ["1: missing required key 'title'"]),
        (
            "broken-yaml.yaml",
            ["5: invalid YAML: while scanning a quoted scalar, found unexpected end of stream"],
        ),
        (
            "python-tag.yaml",
            ["1: title: unsupported YAML tag '!!python/object/apply:os.system' (plain YAML only)"],
        ),
        (
            "unknown-soundscape.yaml",
            [
                "6: chapters[0].soundscape: unknown soundscape 'rian' (did you mean 'rain'?)"
                " (presets: brown-noise, crickets, data-pulse, digital-drone, fireplace, glitch,"
                " night-forest, rain, server-hum, waves, wind)"
            ],
        ),
        (
            "empty-line.yaml",
            [
                "9: chapters[0].scenes[0].lines[0]: text must not be empty",
                "10: chapters[0].scenes[0].lines[1]: one speaker per line, not narrator, lena",
                "12: chapters[0].scenes[1].lines: needs at least one line",
            ],
        ),
        (
            "bad-cast.yaml",
            [
                "3: cast: speaker id 'Lena' must match [a-z][a-z0-9_-]* and not be 'pause'",
                "4: cast: speaker id 'pause' must match [a-z][a-z0-9_-]* and not be 'pause'",
            ],
        ),
        (
            "not-a-mapping.yaml",
            ["1: expected a script (a mapping with title, cast, chapters), got a list"],
        ),
        ("duplicate-key.yaml", ["2: duplicate key 'title'"]),
        (
            "bad-layer.yaml",
            [
                "7: chapters[0].soundscape.rain: unknown key 'lowpas_hz'"
                " (did you mean 'lowpass_hz'?) (expected: gain_db, lowpass_hz)",
                "7: chapters[0].soundscape.rain.gain_db: must be -40 to +12 dB",
            ],
        ),
        ("control-byte.yaml", ["1: invalid character U+0001"]),
        (
            "hostile-text.yaml",
            [
                "1: title: text must not hold control characters (found U+0007)",
                "5: chapters[0].title: text must not hold control characters (found U+001B)",
                "8: chapters[0].scenes[0].lines[0]: nothing to say in '...': a line needs a word"
                " ('pause: seconds' is silence)",
                "9: chapters[0].scenes[0].lines[1]: text must not hold control characters"
                " (found U+202E)",
            ],
        ),
        ("bad-year.yaml", ["2: year: expected a year like 2026, got '202'"]),
        (
            "bad-direction.yaml",
            [
                "10: chapters[0].scenes[0].lines[0].lena.speed: must be 0.5 to 1.5, not 3",
                "11: chapters[0].scenes[0].lines[1]: unknown key 'sped' (did you mean 'speed'?)"
                " (a line takes a speaker and: speed, gain_db, pause_after, voice, bed, sfx)",
                "14: chapters[0].scenes[0].lines[2].narrator.voice: 'kai' is not in the cast: a"
                " line is said in the voice of another speaker (cast: lena, narrator)",
                "16: chapters[0].scenes[0].lines[3].narrator.bed: expected deeper, lighter, or"
                " how far the bed dips in dB (0 to 30), got 'quieter'",
                "17: chapters[0].scenes[0].lines[4]: a pause takes no direction; it is silence",
            ],
        ),
        (
            "bad-markup.yaml",
            [
                "8: chapters[0].scenes[0].lines[0]: unknown tag <whisper> (known: <break>,"
                " <emphasis>, <phoneme>, <prosody>, <sub>, and [pause:N])",
                '9: chapters[0].scenes[0].lines[1]: <prosody rate="zippy">: expected x-slow,'
                ' slow, medium, fast, x-fast, a percentage such as "80%" or a multiple such'
                ' as "0.8"',
                "10: chapters[0].scenes[0].lines[2]: <break/> holds nothing: write <break …/>",
                "11: chapters[0].scenes[0].lines[3]: [pause:soon]: expected seconds, such as"
                " [pause:1.5]",
                "12: chapters[0].scenes[0].lines[4]: markup is not well formed (mismatched tag)",
            ],
        ),
        (
            "missing-sound.yaml",
            [
                "7: chapters[0].scenes[0].music.file: no such sound file 'music/not-there.ogg'"
                f" (looked for {BAD / 'music/not-there.ogg'})",
                "10: chapters[0].scenes[0].lines[0].narrator.sfx.file: no such sound file"
                f" 'sounds/door.ogg' (looked for {BAD / 'sounds/door.ogg'})",
                "11: chapters[0].scenes[0].lines[1]: unknown effect 'trumpet' (effects: chime,"
                " door, footsteps, glitch, heartbeat, kettle, owl, page-turn; or {file:"
                " sounds/x.ogg} for a recording)",
            ],
        ),
        (
            "not-finite.yaml",
            [
                "3: pacing.final_speed: expected a finite number, got '.nan'",
                "8: chapters[0].soundscape.rain.gain_db: expected a finite number, got '.inf'",
                "15: chapters[1].scenes[0].lines[0]: expected a finite number, got '.NaN'",
                "16: chapters[1].scenes[0].lines[1]: pause must be > 0 and <= 60 seconds",
            ],
        ),
    ],
)
def test_bad_scripts_name_file_line_and_problem(name: str, expected: list[str]) -> None:
    assert _errors(name) == [f"{BAD / name}:{message}" for message in expected]


def test_every_bad_script_is_covered() -> None:
    tested = {p.name for p in BAD.glob("*.yaml")}
    assert len(tested) == 19


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match=r"nope\.yaml: no such file"):
        parse_script(tmp_path / "nope.yaml")


def test_pacing_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "paced.yaml"
    path.write_text(
        "title: P\ncast: {n: x}\npacing: {final_speed: 0.7, line_pause_s: 1.2}\n"
        "chapters: [{title: A, scenes: [{lines: [{n: hi}]}]}]\n"
    )
    pacing = parse_script(path).pacing
    assert (pacing.final_speed, pacing.line_pause_s, pacing.scene_pause_s) == (
        0.7,
        1.2,
        Pacing().scene_pause_s,
    )
    path.write_text(
        "title: P\ncast: {n: x}\npacing: {final_speed: 0.2}\n"
        "chapters: [{title: A, scenes: [{lines: [{n: hi}]}]}]\n"
    )
    with pytest.raises(
        ScriptError, match=r"paced\.yaml:3: pacing\.final_speed: must be 0\.5 to 1\.5"
    ):
        parse_script(path)


def test_a_misspelt_file_name_gets_a_suggestion(tmp_path: Path) -> None:
    (tmp_path / "dream-standard.yaml").write_text("title: x\n")
    with pytest.raises(ScriptError) as caught:
        parse_script(tmp_path / "dream-standrd.yaml")
    assert str(caught.value) == (
        f"{tmp_path / 'dream-standrd.yaml'}: no such file (did you mean 'dream-standard.yaml'?)"
    )
