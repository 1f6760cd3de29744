"""End to end: the real eSpeak NG engine, real ffmpeg, and the files a listener gets."""

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
from conftest import DATA, TINY_ARGS, decode, ffprobe_chapters, run_bedtime
from mutagen.id3 import ID3
from mutagen.mp4 import MP4

from bedtime_audio.script import parse_script

TITLES = ["The Humming City", "Rain at Last", "Drift off"]


@pytest.mark.parametrize("ext", ["m4b", "mp3"])
def test_chapters_as_ffprobe_reads_them(tiny_render: Path, ext: str) -> None:
    chapters = ffprobe_chapters(tiny_render / f"tiny.{ext}")
    assert [c["tags"]["title"] for c in chapters] == TITLES
    report = json.loads((tiny_render / "render.json").read_text())
    for chapter, reported in zip(chapters, report["chapters"], strict=True):
        assert float(chapter["start_time"]) == pytest.approx(reported["start_s"], abs=0.01)
        assert float(chapter["end_time"]) == pytest.approx(reported["end_s"], abs=0.01)


def test_m4b_is_an_audiobook_with_nero_chapters_and_tags(tiny_render: Path) -> None:
    path = tiny_render / "tiny.m4b"
    assert path.read_bytes()[4:12] == b"ftypM4B "
    mp4 = MP4(path)
    assert [c.title for c in mp4.chapters] == TITLES  # the Nero 'chpl' atom
    assert mp4.tags["\xa9nam"] == ["The Tiny Night"]
    assert mp4.tags["\xa9ART"] == ["bedtime-audio"]


def test_mp3_has_chap_frames_and_a_table_of_contents(tiny_render: Path) -> None:
    tags = ID3(tiny_render / "tiny.mp3")
    toc = tags.getall("CTOC")
    assert len(toc) == 1 and len(toc[0].child_element_ids) == 3
    assert [f.sub_frames["TIT2"].text[0] for f in tags.getall("CHAP")] == TITLES
    assert tags["TIT2"].text == ["The Tiny Night"]


@pytest.mark.parametrize("ext", ["m4b", "mp3"])
def test_decoded_duration_and_loudness(tiny_render: Path, ext: str) -> None:
    report = json.loads((tiny_render / "render.json").read_text())
    samples = decode(tiny_render / f"tiny.{ext}")
    assert samples.shape[1] / 44100 == pytest.approx(report["duration_s"], abs=0.1)
    loudness = pyloudnorm.Meter(44100).integrated_loudness(samples.T.astype(np.float64))
    assert loudness == pytest.approx(-20.0, abs=1.0)
    oversampled = decode(tiny_render / f"tiny.{ext}", rate_hz=44100 * 4)
    assert 20 * np.log10(np.abs(oversampled).max()) <= -1.5


def test_transcript_has_one_cue_per_line(tiny_render: Path) -> None:
    vtt = (tiny_render / "tiny.vtt").read_text()
    assert vtt.startswith("WEBVTT\n")
    cues = re.findall(
        r"^(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\n<v ([^>]+)>(.*)$", vtt, re.MULTILINE
    )
    speeches = parse_script(DATA / "tiny.yaml").speeches
    assert len(cues) == len(speeches)
    assert [(c[2], c[3]) for c in cues][:2] == [
        ("Narrator", speeches[0].text),
        ("Lena", speeches[1].text),
    ]


def test_render_report_lists_every_line_in_order(tiny_render: Path) -> None:
    report = json.loads((tiny_render / "render.json").read_text())
    lines = report["lines"]
    assert len(lines) == 7
    starts = [line["start_s"] for line in lines]
    assert starts == sorted(starts)
    assert all(line["end_s"] > line["start_s"] for line in lines)
    assert lines[1]["voice"] == "en-us+f4" and lines[1]["speaker"] == "lena"
    assert report["chapters"][-1]["end_s"] == pytest.approx(report["duration_s"])
    assert report["loudness"]["integrated_lufs"] == pytest.approx(-20.0, abs=1.0)
    assert report["loudness"]["true_peak_dbtp"] <= -1.5


def test_same_inputs_same_samples(tiny_render: Path, tmp_path: Path) -> None:
    """A second render with an empty cache decodes to the same PCM."""
    result = run_bedtime(
        "render",
        str(DATA / "tiny.yaml"),
        "--out",
        str(tmp_path),
        *TINY_ARGS,
        env={"BEDTIME_CACHE": str(tmp_path / "fresh-cache")},
    )
    assert result.returncode == 0, result.stderr
    for ext in ("m4b", "mp3"):
        again = hashlib.sha256(decode(tmp_path / "tiny" / f"tiny.{ext}").tobytes()).hexdigest()
        first = hashlib.sha256(decode(tiny_render / f"tiny.{ext}").tobytes()).hexdigest()
        assert again == first


def test_bad_script_exits_1_with_file_and_line_and_writes_nothing(tmp_path: Path) -> None:
    bad = DATA / "bad" / "unknown-speaker.yaml"
    result = run_bedtime(
        "render",
        str(DATA / "tiny.yaml"),
        str(bad),
        "--engine",
        "pyttsx3",
        "--out",
        str(tmp_path / "out"),
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {bad}:10: chapters[0].scenes[0].lines[1]: unknown speaker 'owl' "
        "(cast: lena, narrator)"
    )
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists(), "nothing is written when any script is bad"


def test_bad_casting_is_reported_by_check(tmp_path: Path) -> None:
    voices = tmp_path / "voices.yaml"
    voices.write_text("stories:\n  tiny:\n    lena:\n      pyttsx3: {voice: en-us+f3, pich: 4}\n")
    result = run_bedtime("check", str(DATA / "tiny.yaml"), "--voices", str(voices))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {voices}:4: stories.tiny.lena.pyttsx3: unknown key 'pich' (did you mean "
        "'pitch'?) (expected: voice, speed, pitch)"
    )


def test_check_passes_a_good_script() -> None:
    result = run_bedtime(
        "check",
        str(DATA / "tiny.yaml"),
        "--engine",
        "pyttsx3",
        "--voices",
        str(DATA / "voices.yaml"),
    )
    assert result.returncode == 0, result.stderr
    assert "tiny.yaml: ok — 2 chapters, 7 lines" in result.stdout


def test_voices_lists_each_engine() -> None:
    result = run_bedtime("voices", "--engine", "pyttsx3")
    assert result.returncode == 0
    assert re.search(r"^pyttsx3\s+en-us\+f3\s+female\s+en-us$", result.stdout, re.MULTILINE)


def test_missing_ffmpeg_is_reported_with_the_install_command(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    result = run_bedtime(
        "render",
        str(DATA / "tiny.yaml"),
        "--engine",
        "pyttsx3",
        "--out",
        str(tmp_path / "out"),
        env={"PATH": str(bin_dir)},
    )
    assert result.returncode == 1
    assert "ffmpeg is not installed: run 'sudo apt-get install ffmpeg'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_master_is_calm_clean_and_never_silent(tiny_render: Path) -> None:
    """No clipping, no DC, no moment far louder than the whole, no digital silence."""
    from bedtime_audio.audio import Audio
    from bedtime_audio.master import block_powers, integrated_lufs

    samples = decode(tiny_render / "tiny.m4b")
    assert np.abs(samples).max() < 1.0
    assert np.abs(samples.mean(axis=1)).max() < 1e-3
    report = json.loads((tiny_render / "render.json").read_text())
    story_end = round(report["chapters"][-1]["start_s"] * 44100)
    story = Audio(samples[:, :story_end], 44100)
    powers = block_powers(story)
    momentary = -0.691 + 10 * np.log10(powers.max())
    # a minute, mostly bed: its integrated loudness sits low, and a line's own 400 ms peaks
    # stand 8 to 9 LU above it (a full story's stand 4.5 to 5.5 LU above, by bedtime analyze)
    assert momentary - integrated_lufs(powers) <= 9.0
    inside = samples[:, 44100 : samples.shape[1] - 44100 * 5]
    usable = inside.shape[1] - inside.shape[1] % 4410
    windows = inside[:, :usable].reshape(2, -1, 4410)  # 100 ms each
    assert np.sqrt(np.mean(windows**2, axis=(0, 2))).min() > 1e-5


def test_voices_sample_auditions_each_speaker(tmp_path: Path) -> None:
    result = run_bedtime(
        "voices",
        "--sample",
        str(DATA / "tiny.yaml"),
        "--engine",
        "pyttsx3",
        "--voices",
        str(DATA / "voices.yaml"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "output" / "auditions" / "tiny" / "pyttsx3"
    clips = {path.stem: decode(path) for path in folder.glob("*.wav")}
    assert set(clips) == {"narrator", "lena", "kai"}
    assert "lena         en-us+f4" in result.stdout
    for samples in clips.values():
        loudness = pyloudnorm.Meter(44100).integrated_loudness(samples.T.astype(np.float64))
        assert loudness == pytest.approx(-18.0, abs=0.5)  # every voice levelled alike


def test_analyze_shows_the_arc_of_a_rendered_story(tiny_render: Path) -> None:
    from bedtime_audio.analyze import analyze_file

    plot = tiny_render / "arc.png"
    result = run_bedtime("analyze", str(tiny_render / "tiny.m4b"), "--plot", str(plot))
    assert result.returncode == 0, result.stderr
    assert "wpm last/first" in result.stdout and plot.stat().st_size > 10_000
    analysis = analyze_file(tiny_render / "tiny.m4b", None)
    assert [c.title for c in analysis.chapters] == TITLES
    assert analysis.wpm_ratio is not None and analysis.wpm_ratio <= 0.85
    assert analysis.bed_centroid_last_third_hz < analysis.bed_centroid_first_third_hz
    assert analysis.tail.present and analysis.tail.fading
    assert analysis.loudness_lufs == pytest.approx(-20.0, abs=1.0)


def test_errors_quote_hostile_keys_as_escapes(tmp_path: Path) -> None:
    script = tmp_path / "story.yaml"
    script.write_text('title: T\n"\\e[2J\\u202e": clear the screen\ncast: {n: x}\nchapters: []\n')
    result = run_bedtime("check", "story.yaml", "--engine", "pyttsx3", cwd=tmp_path)
    assert result.returncode == 1
    assert "\x1b" not in result.stderr and "\u202e" not in result.stderr
    assert result.stderr.startswith("error: story.yaml:2: unknown key '\\x1b[2J\\u202e'")
