"""Line direction: each form changes the audio as it says, measured in the samples the real
engine and mixer make — a pause in silence, speed in duration, gain in LUFS, the bed's dip in
its level — and the voice override in render.json."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
from conftest import DATA, TINY_ARGS, run_bedtime

from bedtime_audio.cache import AudioCache
from bedtime_audio.engines import load_engine
from bedtime_audio.markup import MarkupError, parse_markup
from bedtime_audio.mix import (
    DUCK_DB,
    RATE_HZ,
    Timeline,
    line_audio,
    mix_chapter,
    plan_chapter,
)
from bedtime_audio.model import Break, Pacing, Phonemes, Words
from bedtime_audio.render import prepare
from bedtime_audio.script import BED_WORDS, parse_script
from bedtime_audio.synth import SpeechBank, line_jobs, synthesize

HEAD = "title: Directed\ncast: {narrator: The storyteller, lena: A teacher}\nchapters:\n"


def story(tmp_path: Path, lines: str, name: str = "directed") -> Path:
    """A one-chapter, one-scene script of `lines` (YAML list items, 10 spaces in)."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(HEAD + "  - title: One\n    scenes:\n      - lines:\n" + lines)
    return path


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SpeechBank, AudioCache]:
    """One script holding every direction form, spoken once by eSpeak NG."""
    folder = tmp_path_factory.mktemp("directed")
    said = "The lamps went out one by one."
    script = story(
        folder,
        f"          - lena: {said} [pause:0.5] The city slept.\n"
        f"          - lena: {said} [pause:2.5] The city slept.\n"
        f"          - lena: {said}\n"
        f"          - lena: {said}\n            speed: 0.7\n"
        f"          - lena: {said}\n            gain_db: -6\n"
        f"          - lena: {said}\n            voice: narrator\n"
        f"          - lena: {said}\n            bed: deeper\n"
        f"          - lena: {said}\n            pause_after: 6\n"
        "          - narrator: And the rain came.\n",
    )
    engine = load_engine("pyttsx3")
    plan = prepare([script], DATA / "voices.yaml", engine)[0]
    cache = AudioCache(folder / "lines")
    return script, synthesize(plan, engine, cache, jobs=1), cache


Spoken = tuple[Path, SpeechBank, AudioCache]


def _placed(spoken: Spoken) -> tuple[Timeline, AudioCache]:
    script, bank, cache = spoken
    return plan_chapter(parse_script(script).chapters[0], 0, 1, Pacing(), bank), cache


def _longest_silence_s(audio: np.ndarray, floor_db: float = -60.0) -> float:
    quiet = np.abs(audio[0]) < 10 ** (floor_db / 20)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], quiet.astype(np.int8), [0]))))
    return (
        max((end - start for start, end in zip(edges[::2], edges[1::2], strict=True)), default=0)
        / RATE_HZ
    )


def _loudness(audio: np.ndarray) -> float:
    return float(pyloudnorm.Meter(RATE_HZ).integrated_loudness(audio.T.astype(np.float64)))


def test_a_pause_in_the_text_is_that_much_silence(spoken: Spoken) -> None:
    timeline, cache = _placed(spoken)
    short, long = (line_audio(p, cache).samples for p in timeline.lines[:2])
    assert _longest_silence_s(long) - _longest_silence_s(short) == pytest.approx(2.0, abs=0.03)
    assert _longest_silence_s(long) == pytest.approx(2.5, abs=0.15)


def test_speed_slows_the_line(spoken: Spoken) -> None:
    timeline, _cache = _placed(spoken)
    plain, slow = timeline.lines[2], timeline.lines[3]
    ratio = (slow.end_s - slow.start_s) / (plain.end_s - plain.start_s)
    assert ratio == pytest.approx(1 / 0.7, rel=0.12)
    assert slow.clip.voice.speed == pytest.approx(plain.clip.voice.speed * 0.7)


def test_gain_db_makes_the_line_that_much_quieter(spoken: Spoken) -> None:
    timeline, cache = _placed(spoken)
    plain, quiet = (line_audio(p, cache).samples for p in (timeline.lines[2], timeline.lines[4]))
    assert _loudness(quiet) - _loudness(plain) == pytest.approx(-6.0, abs=0.1)


def test_bed_deeper_dips_the_bed_further_under_the_line(spoken: Spoken) -> None:
    timeline, cache = _placed(spoken)
    bed = mix_chapter(timeline, cache, "directed").bed.samples
    alike = tuple(dataclasses.replace(p, duck_db=DUCK_DB) for p in timeline.lines)
    plain = mix_chapter(dataclasses.replace(timeline, lines=alike), cache, "directed").bed.samples
    deeper = timeline.lines[6]
    inside = slice(round((deeper.start_s + 0.3) * RATE_HZ), round((deeper.end_s - 0.1) * RATE_HZ))
    dip_db = 20 * np.log10(np.sqrt(np.mean(bed[:, inside] ** 2) / np.mean(plain[:, inside] ** 2)))
    assert dip_db == pytest.approx(DUCK_DB - BED_WORDS["deeper"], abs=0.05)


def test_pause_after_replaces_the_pause_that_follows(spoken: Spoken) -> None:
    timeline, _cache = _placed(spoken)
    gaps = [b.start_s - a.end_s for a, b in itertools.pairwise(timeline.lines)]
    assert gaps[7] == pytest.approx(6.0)
    assert gaps[6] == pytest.approx(1.5)  # the pacing's own, in a first chapter


def test_the_voice_override_speaks_and_is_reported(tmp_path: Path) -> None:
    script = story(
        tmp_path,
        "          - lena: I will say this in my own voice.\n"
        "          - lena: And this in the storyteller's.\n            voice: narrator\n"
        "          - narrator: Said the storyteller.\n",
    )
    out = tmp_path / "out"
    result = run_bedtime("render", str(script), "--out", str(out), *TINY_ARGS)
    assert result.returncode == 0, result.stderr
    lines = json.loads((out / "directed" / "render.json").read_text())["lines"]
    assert [line["speaker"] for line in lines] == ["lena", "lena", "narrator"]
    assert lines[0]["voice"] != lines[1]["voice"] == lines[2]["voice"]


def test_markup_reads_pauses_rates_emphasis_aliases_and_phonemes() -> None:
    written, said = parse_markup(
        'Dr. Lee <prosody rate="slow">breathed <emphasis>out</emphasis></prosody> [pause:1.5]'
        '<break time="500ms"/>and <sub alias="Doctor">Dr.</sub> '
        '<phoneme alphabet="ipa" ph="ɹˈoʊʃən">Roshan</phoneme> slept &amp; dreamt & woke.'
    )
    assert written == "Dr. Lee breathed out and Dr. Roshan slept & dreamt & woke."
    assert said == (
        Words(("Dr. Lee ",)),
        Words(("breathed ",), 0.85),
        Words(("out", " "), 0.85, True),
        Break(2.0),
        Words(
            ("and ", "Doctor", " ", Phonemes("Roshan", "ɹˈoʊʃən", "ipa"), " slept & dreamt & woke.")
        ),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('<prosody rate="30%">x</prosody>', "keep it within 0.5-2.0"),
        ('<break time="90s"/>', "a pause must be 0 to 60 seconds"),
        ('<prosody pitch="high">x</prosody>', "<prosody> has no attribute 'pitch'"),
        ("<sub>Dr.</sub>", "<sub> needs what to say instead"),
        ('<phoneme alphabet="x-sampa" ph="r">r</phoneme>', 'alphabet must be "ipa"'),
        ('<sub alias="a"><emphasis>b</emphasis></sub>', "<sub> holds words only"),
        ('<!DOCTYPE x [<!ENTITY a "b">]>&a;', "not well formed"),
        ("3 < 4", "not well formed"),
    ],
)
def test_wrong_markup_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(MarkupError) as caught:
        parse_markup(text)
    assert message in str(caught.value)


def test_the_engine_is_given_words_in_its_own_phonemes(tmp_path: Path) -> None:
    script = story(
        tmp_path,
        '          - lena: <phoneme alphabet="espeak" ph="r\'oUS@n">Roshan</phoneme> slept.\n'
        '          - lena: <phoneme ph="ɹˈoʊʃən">Roshan</phoneme> slept.\n',
    )
    engine = load_engine("pyttsx3")
    jobs = line_jobs(prepare([script], DATA / "voices.yaml", engine)[0])
    assert [job.sentences[0].text for job in jobs] == ["[[r'oUS@n]] slept.", "Roshan slept."]
    assert jobs[0].speech.text == "Roshan slept."


def test_escapes_are_read_and_a_bare_ampersand_is_kept() -> None:
    assert parse_markup("Salt &amp; pepper, 3 &lt; 4 & more.") == (
        "Salt & pepper, 3 < 4 & more.",
        (Words(("Salt & pepper, 3 < 4 & more.",)),),
    )
