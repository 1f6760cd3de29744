"""Sound cues and recorded beds: a producer's OGG and MP3 and a procedural effect land where
their line begins, ducked under it; a recording loops under a scene without a seam; a file
that is missing or not audio is a clean error naming the script's line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import BEDTIME, DATA, decode, run_bedtime
from scipy.signal import chirp, correlate

from bedtime_audio.audio import assembled
from bedtime_audio.cache import AudioCache
from bedtime_audio.engines import load_engine
from bedtime_audio.mix import DUCK_DB, RATE_HZ, mix_chapter, plan_chapter
from bedtime_audio.model import Cue, Pacing
from bedtime_audio.render import prepare
from bedtime_audio.script import parse_script
from bedtime_audio.sounds import check_file, cue_audio, loop_pieces
from bedtime_audio.synth import synthesize

HEAD = "title: Cues\ncast: {narrator: The storyteller}\nchapters:\n  - title: One\n"


def recording(path: Path, seconds: float = 0.8) -> Path:
    """A falling chirp (distinct at every lag) encoded by ffmpeg into path's format."""
    t = np.arange(round(seconds * RATE_HZ)) / RATE_HZ
    signal = 0.3 * chirp(t, 2400, seconds, 300) * np.hanning(t.size)
    pcm = (np.repeat(signal[np.newaxis], 2, axis=0).T * 32767).astype("<i2").tobytes()
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "s16le", "-ar", str(RATE_HZ), "-ac", "2", "-i", "-"]
        + ["-q:a", "6" if path.suffix == ".ogg" else "2", str(path)],
        input=pcm,
        check=True,
    )
    return path


@pytest.fixture(scope="module")
def cued(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("cued")
    (folder / "sounds").mkdir()
    recording(folder / "sounds" / "sweep.ogg")
    recording(folder / "sounds" / "sweep.mp3")
    said = "The door of the sleep clinic opened, and closed again, very slowly."
    script = folder / "cues.yaml"
    script.write_text(
        HEAD + "    scenes:\n      - lines:\n"
        f"          - narrator: {said}\n            sfx: {{file: sounds/sweep.ogg}}\n"
        f"          - narrator: {said}\n            sfx: {{file: sounds/sweep.mp3, gain_db: -3}}\n"
        f"          - narrator: {said}\n            sfx: chime\n"
        "          - sfx: owl\n"
        f"          - narrator: {said}\n"
    )
    engine = load_engine("pyttsx3")
    plan = prepare([script], DATA / "voices.yaml", engine)[0]
    cache = AudioCache(folder / "lines")
    bank = synthesize(plan, engine, cache, jobs=1)
    timeline = plan_chapter(plan.script.chapters[0], 0, 1, Pacing(), bank)
    return timeline, mix_chapter(timeline, cache, "cues")


def _found(bed: np.ndarray, reference: np.ndarray, near_s: float) -> tuple[float, float]:
    """Where the reference lies in the bed near near_s (by cross-correlation), and its gain
    there in dB (least squares)."""
    lo = max(0, round((near_s - 1.0) * RATE_HZ))
    window = bed[0, lo : lo + round(2.0 * RATE_HZ) + reference.shape[1]]
    scores = correlate(window, reference[0], mode="valid", method="fft")
    lag = int(np.argmax(scores))
    heard = window[lag : lag + reference.shape[1]]
    gain = float(heard @ reference[0] / (reference[0] @ reference[0]))
    return (lo + lag) / RATE_HZ, 20 * np.log10(abs(gain))


@pytest.mark.parametrize("number", [0, 1, 2])
def test_a_cue_lands_where_its_line_begins_ducked_under_it(cued, number: int) -> None:  # type: ignore[no-untyped-def]
    timeline, mixed = cued
    line = timeline.lines[number]
    (placed,) = [c for c in timeline.cues if c.start_s == line.start_s]
    reference = cue_audio(placed.cue, RATE_HZ, placed.seed).samples
    at_s, gain_db = _found(mixed.bed.samples, reference, line.start_s)
    assert at_s == pytest.approx(line.start_s, abs=0.020)
    assert gain_db == pytest.approx(-DUCK_DB, abs=1.0), "ducked like the bed under speech"


def test_a_cue_on_a_line_of_its_own_is_waited_for(cued) -> None:  # type: ignore[no-untyped-def]
    timeline, mixed = cued
    owl = timeline.cues[-1]
    reference = cue_audio(owl.cue, RATE_HZ, owl.seed).samples
    at_s, gain_db = _found(mixed.bed.samples, reference, owl.start_s)
    assert at_s == pytest.approx(owl.start_s, abs=0.020)
    assert gain_db == pytest.approx(0.0, abs=1.0), "between lines, not ducked"
    after = timeline.lines[3].start_s
    assert after >= owl.start_s + reference.shape[1] / RATE_HZ


def test_the_recordings_are_levelled_then_given_their_gain(cued) -> None:  # type: ignore[no-untyped-def]
    timeline, _mixed = cued
    ogg, mp3 = (cue_audio(c.cue, RATE_HZ, c.seed).samples for c in timeline.cues[:2])
    level_db = 20 * np.log10(np.sqrt(np.mean(mp3**2)) / np.sqrt(np.mean(ogg**2)))
    assert level_db == pytest.approx(-3.0, abs=0.3)


def test_a_recording_loops_under_a_scene_without_a_seam(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    noise = rng.standard_normal((2, 3 * RATE_HZ)) * 0.05
    path = tmp_path / "rain.wav"
    pcm = (noise.T * 32767).astype("<i2").tobytes()
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "s16le", "-ar", str(RATE_HZ), "-ac", "2", "-i", "-"]
        + [str(path)],
        input=pcm,
        check=True,
    )
    file = check_file("rain.wav", tmp_path)
    assert file.duration_s == pytest.approx(3.0)
    pieces = loop_pieces(file, 20 * RATE_HZ, RATE_HZ, 0.0)
    ((_start, bed),) = assembled(pieces, 20 * RATE_HZ, 20 * RATE_HZ)
    assert bed.shape == (2, 20 * RATE_HZ)
    second = np.sqrt(np.mean(bed.reshape(2, 20, RATE_HZ) ** 2, axis=(0, 2)))
    assert second.max() / second.min() < 1.25, "no dip or bump where the loop comes round"
    assert np.abs(np.diff(bed, axis=1)).max() < 1.5 * np.abs(np.diff(noise, axis=1)).max()


def test_a_scene_plays_its_music_file_under_the_lines(tmp_path: Path) -> None:
    (tmp_path / "music").mkdir()
    recording(tmp_path / "music" / "theme.ogg", seconds=2.0)
    script = tmp_path / "music.yaml"
    script.write_text(
        HEAD + "    soundscape: rain\n    scenes:\n"
        "      - music: {file: music/theme.ogg, gain_db: -6}\n"
        "        lines:\n          - narrator: The music played on.\n"
    )
    (scene,) = parse_script(script).chapters[0].scenes
    assert [layer.preset for layer in scene.soundscape] == ["rain", "file"]
    assert scene.soundscape[1].gain_db == -6.0


def test_a_missing_or_undecodable_file_is_a_clean_error_at_check(tmp_path: Path) -> None:
    (tmp_path / "sounds").mkdir()
    (tmp_path / "sounds" / "door.ogg").write_text("not audio at all")
    script = tmp_path / "door.yaml"
    script.write_text(
        HEAD + "    scenes:\n      - lines:\n"
        "          - narrator: The door opened.\n            sfx: {file: sounds/door.ogg}\n"
        "          - narrator: And shut.\n            sfx: {file: sounds/shut.ogg}\n"
    )
    result = run_bedtime("check", str(script), "--engine", "pyttsx3")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"error: {script}:8: chapters[0].scenes[0].lines[0].narrator.sfx")
    assert "ffmpeg finds no audio in it" in lines[0]
    assert lines[1].startswith(f"{script}:10: ")
    assert "no such sound file 'sounds/shut.ogg'" in lines[1]


def test_a_rendered_story_carries_its_cue(tmp_path: Path) -> None:
    """The whole way: the cue is in the encoded M4B where render.json puts its line."""
    folder = tmp_path / "story"
    (folder / "sounds").mkdir(parents=True)
    recording(folder / "sounds" / "sweep.ogg")
    script = folder / "cues.yaml"
    script.write_text(
        HEAD + "    scenes:\n      - lines:\n"
        "          - narrator: The clinic was quiet.\n"
        "          - narrator: Then the door opened.\n            sfx: {file: sounds/sweep.ogg}\n"
    )
    out = tmp_path / "out"
    result = subprocess.run(
        [BEDTIME, "render", str(script), "--out", str(out), "--engine", "pyttsx3", "--tail", "10"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    line = json.loads((out / "cues" / "render.json").read_text())["lines"][1]
    audio = decode(out / "cues" / "cues.m4b")
    reference = cue_audio(Cue(check_file("sounds/sweep.ogg", folder)), RATE_HZ, 0).samples
    at_s, _gain = _found(audio, reference, line["start_s"])
    assert at_s == pytest.approx(line["start_s"], abs=0.020)
