"""`bedtime analyze` on a story built here: a bright, busy chapter, a darker, slower one and a
fading tail, encoded to AAC with ffmpeg, with a render.json that says where everything is."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import butter, sosfilt, welch

from bedtime_audio.analyze import (
    ChapterSpan,
    LineSpan,
    RenderInfo,
    StoryAnalysis,
    analyze_file,
    bed_mask,
    format_report,
    load_render_json,
    summarize,
)
from bedtime_audio.audio import Audio
from bedtime_audio.errors import BedtimeError
from bedtime_audio.master import block_powers, true_peak_dbtp, true_peak_envelope
from bedtime_audio.meter import HOP_FRAMES, measure

RATE = 44100
CHAPTERS = [
    ("Bright and busy", 0.0, 20.0, 1.0),
    ("Dark and slow", 20.0, 40.0, 0.5),
    ("Drift off", 40.0, 70.0, 0.0),
]
# (chapter, start_s, end_s, words, tone_hz, amplitude): 180 words a minute, then 120, softer
LINES = [("Bright and busy", s, s + 3.0, 9, 300.0, 0.14) for s in (2.0, 8.0, 14.0)] + [
    ("Dark and slow", s, s + 4.0, 8, 6000.0, 0.05) for s in (23.0, 33.0)
]


def noise_bed(seconds: float, cutoff_hz: float, rms: float, seed: int) -> np.ndarray:
    """Stereo noise low-passed at cutoff_hz."""
    white = np.random.default_rng(seed).standard_normal((2, round(seconds * RATE)))
    shaped = sosfilt(butter(4, cutoff_hz, fs=RATE, output="sos"), white, axis=1)
    return shaped * rms / shaped.std()


def centroid_hz(samples: np.ndarray) -> float:
    freqs, power = welch(samples, RATE, nperseg=4096)
    return float((freqs * power.sum(axis=0)).sum() / power.sum())


def encode_m4b(samples: np.ndarray, path: Path) -> Path:
    args = f"-v error -f f32le -ar {RATE} -ac 2 -i pipe:0 -c:a aac -b:a 128k".split()
    pcm = samples.T.astype("<f4").tobytes()
    subprocess.run(["ffmpeg", *args, str(path)], input=pcm, check=True)
    return path


def render_json(duration_s: float) -> dict:
    chapters = [
        {"title": t, "start_s": s, "end_s": e, "loudness_lufs": -20.0, "synthetic_share": share}
        for t, s, e, share in CHAPTERS
    ]
    lines = [
        {
            "chapter": c,
            "speaker": "narrator",
            "voice": "v",
            "speed": 1.0,
            "text": " ".join(["word"] * n),
            "start_s": s,
            "end_s": e,
        }
        for c, s, e, n, _hz, _amplitude in LINES
    ]
    return {
        "title": "Built Story",
        "slug": "built",
        "engine": "test",
        "duration_s": duration_s,
        "chapters": chapters,
        "lines": lines,
    }


@dataclass(frozen=True)
class Built:
    source: np.ndarray
    """The story before encoding, (2, frames) float64."""
    beds: np.ndarray
    """The bed alone, without the tone 'speech'."""
    m4b: Path


def build_story(folder: Path) -> Built:
    beds = np.concatenate([noise_bed(20, 5000, 0.03, 1), noise_bed(50, 400, 0.02, 2)], axis=1)
    fade_db = np.clip(np.linspace(-5 * 90 / 25, 90, 30 * RATE), 0, 90)  # steady 5 s, then -90 dB
    beds[:, 40 * RATE :] *= 10 ** (-fade_db / 20)
    source = beds.copy()
    for _chapter, start_s, end_s, _words, tone_hz, amplitude in LINES:
        t = np.arange(round((end_s - start_s) * RATE)) / RATE
        ramp = np.clip(np.minimum(t, t[-1] - t) / 0.02, 0, 1)
        tone = amplitude * ramp * np.sin(2 * np.pi * tone_hz * t)
        source[:, round(start_s * RATE) : round(end_s * RATE)] += tone
    (folder / "render.json").write_text(json.dumps(render_json(70.0)), encoding="utf-8")
    return Built(source, beds, encode_m4b(source, folder / "built.m4b"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_story(tmp_path_factory.mktemp("built"))


@pytest.fixture(scope="module")
def analysis(built: Built) -> StoryAnalysis:
    return analyze_file(built.m4b, built.m4b.with_suffix(".png"))


def segment(samples: np.ndarray, start_s: float, end_s: float) -> np.ndarray:
    return samples[:, round(start_s * RATE) : round(end_s * RATE)]


def test_chapters_are_found(analysis: StoryAnalysis) -> None:
    assert [c.title for c in analysis.chapters] == [title for title, *_ in CHAPTERS]
    assert [c.synthetic_share for c in analysis.chapters] == [1.0, 0.5, 0.0]
    assert analysis.duration_s == pytest.approx(70.0, abs=0.2)


def test_loudness_and_peaks_match_the_source(analysis: StoryAnalysis, built: Built) -> None:
    meter = pyloudnorm.Meter(RATE)
    for chapter in analysis.chapters:
        part = segment(built.source, chapter.start_s, chapter.end_s)
        assert chapter.loudness_lufs == pytest.approx(meter.integrated_loudness(part.T), abs=1.0)
        assert chapter.true_peak_dbtp == pytest.approx(true_peak_dbtp(Audio(part, RATE)), abs=1.0)
    assert analysis.loudness_lufs == pytest.approx(
        meter.integrated_loudness(built.source.T), abs=1.0
    )
    # tone bursts 13 dB or more over a quiet bed: the loudest moment stands well above the whole
    assert analysis.chapters[0].momentary_excess_lu is not None
    assert 1.0 < analysis.chapters[0].momentary_excess_lu < 5.0


def test_pace_falls_as_constructed(analysis: StoryAnalysis) -> None:
    wpm = [c.words_per_minute for c in analysis.chapters]
    assert wpm[:2] == [pytest.approx(180.0), pytest.approx(120.0)]
    assert wpm[2] is None  # the tail has no lines
    assert analysis.wpm_ratio == pytest.approx(120 / 180)
    # every line is the narrator's; overall counts the chapter's whole span, pauses and all
    assert [c.narration_wpm for c in analysis.chapters] == wpm
    for (title, start_s, end_s, _share), chapter in zip(
        CHAPTERS[:2], analysis.chapters, strict=False
    ):
        words = sum(n for c, _s, _e, n, _hz, _a in LINES if c == title)
        assert chapter.overall_wpm == pytest.approx(words / (end_s - start_s) * 60)


def test_bed_centroid_falls_and_ignores_the_lines(analysis: StoryAnalysis, built: Built) -> None:
    bright, dark = analysis.chapters[0].bed_centroid_hz, analysis.chapters[1].bed_centroid_hz
    assert bright is not None and dark is not None
    # the 6 kHz tones of chapter 2 would lift its centroid far above the 400 Hz bed's own
    assert bright == pytest.approx(centroid_hz(segment(built.beds, 0, 20)), rel=0.1)
    assert dark == pytest.approx(centroid_hz(segment(built.beds, 20, 40)), rel=0.1)
    first, last = analysis.bed_centroid_first_third_hz, analysis.bed_centroid_last_third_hz
    assert first is not None and last is not None and last < first / 4


def test_tail_is_present_and_fading(analysis: StoryAnalysis) -> None:
    tail = analysis.tail
    assert tail.present and tail.fading
    assert tail.span_s == 15.0
    assert tail.drop_lu >= 20.0
    assert tail.final_second_lufs < -60.0


def test_plot_is_written(analysis: StoryAnalysis, built: Built) -> None:
    png = built.m4b.with_suffix(".png")
    assert analysis.plot_path == png
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000
    assert not list(png.parent.glob(".*.tmp"))


def test_report_shows_every_chapter_and_the_story(analysis: StoryAnalysis) -> None:
    report = format_report(analysis)
    assert report.splitlines()[2].split() == [
        "chapter",
        "start",
        "LUFS",
        "dBTP",
        "M-I",
        "LU",
        "wpm",
        "narr",
        "overall",
        "synth",
        "bed",
        "Hz",
    ]
    assert report.splitlines()[3].startswith("Bright and busy")
    assert "wpm last/first: 0.67 (120 / 180); narration 120 / 180, overall " in report
    assert "\ntail: present, fading (last 15 s " in report


def test_a_steady_tail_is_not_fading() -> None:
    steady = noise_bed(30, 400, 0.02, 3)
    pieces = np.split(steady.astype(np.float32), 3, axis=1)
    chapters = (ChapterSpan("A", 0.0, 10.0, 1.0), ChapterSpan("Drift off", 10.0, 30.0, 1.0))
    info = RenderInfo(
        "Steady", 30.0, chapters, (LineSpan("A", "narrator", "one two three four", 1.0, 2.0),)
    )
    tail = summarize(Path("steady.m4b"), info, measure(pieces)).tail
    assert tail.present and not tail.fading
    assert abs(tail.drop_lu) < 1.0


@pytest.mark.parametrize("piece_hops", [3, 37, 100])
def test_measuring_in_pieces_equals_measuring_the_whole(piece_hops: int) -> None:
    whole = noise_bed(5.3, 3000, 0.1, 4).astype(np.float32)
    whole[:, RATE : RATE + 50] += 0.8  # a transient for the true peak
    pieces = np.split(
        whole, range(piece_hops * HOP_FRAMES, whole.shape[1], piece_hops * HOP_FRAMES), axis=1
    )
    hops = measure(pieces)
    audio = Audio(whole, RATE)
    np.testing.assert_allclose(hops.block_powers, block_powers(audio), rtol=1e-5)
    envelope = true_peak_envelope(audio).reshape(-1, HOP_FRAMES).max(axis=1)
    np.testing.assert_allclose(hops.peaks, envelope, rtol=1e-5)
    assert hops.count == 53


def test_bed_mask_widens_each_line_by_margin() -> None:
    mask = bed_mask([LineSpan("A", "narrator", "one two three", 1.0, 2.0)], 40)
    assert mask[:7].all() and not mask[7:23].any() and mask[23:].all()


def test_missing_render_json_is_named(tmp_path: Path) -> None:
    audio = tmp_path / "story.m4b"
    audio.write_bytes(b"")
    with pytest.raises(BedtimeError) as caught:
        analyze_file(audio, None)
    assert str(caught.value) == f"{audio}: no render.json beside it to give the chapter times"


def test_invalid_render_json_is_named(tmp_path: Path) -> None:
    (tmp_path / "render.json").write_text('{"chapters": []', encoding="utf-8")
    with pytest.raises(BedtimeError, match=r"render\.json: not a valid render\.json: Expecting"):
        load_render_json(tmp_path / "story.m4b")
    (tmp_path / "render.json").write_text('{"chapters": [], "lines": []}', encoding="utf-8")
    with pytest.raises(BedtimeError) as caught:
        load_render_json(tmp_path / "story.m4b")
    assert str(caught.value) == (
        f"{tmp_path / 'render.json'}: not a valid render.json: missing 'duration_s'"
    )


def test_undecodable_file_is_named(tmp_path: Path) -> None:
    audio = tmp_path / "story.m4b"
    audio.write_text("not audio at all", encoding="utf-8")
    (tmp_path / "render.json").write_text(json.dumps(render_json(70.0)), encoding="utf-8")
    with pytest.raises(BedtimeError, match=r"story\.m4b: ffmpeg could not decode it: "):
        analyze_file(audio, None)


def test_render_json_of_another_length_is_refused(tmp_path: Path) -> None:
    audio = encode_m4b(noise_bed(3, 1000, 0.05, 5), tmp_path / "short.m4b")
    (tmp_path / "render.json").write_text(json.dumps(render_json(70.0)), encoding="utf-8")
    with pytest.raises(BedtimeError) as caught:
        analyze_file(audio, None)
    assert str(caught.value) == (
        f"{audio}: decodes to 3.0 s, but render.json lists 70.0 s; render the story again"
    )
