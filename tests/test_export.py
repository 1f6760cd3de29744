"""The export stage with synthesized sections and the real ffmpeg: the M4B spliced from
separately encoded stretches plays like one encode, and an edit re-encodes only its own."""

import dataclasses
import hashlib
import json
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyloudnorm
import pytest
from conftest import decode

from bedtime_audio.artifacts import StoryInfo
from bedtime_audio.audio import Audio
from bedtime_audio.cache import AudioCache, Store
from bedtime_audio.executors import open_executor
from bedtime_audio.export import Section, _read_stretch, _Stretch, export
from bedtime_audio.master import (
    CEILING_DBTP,
    PEAK_LIMIT_DBTP,
    limit,
    true_peak_dbtp,
)
from bedtime_audio.measure import Levels
from bedtime_audio.mix import GRID_FRAMES, RATE_HZ

HANDOFF_S = 4.0
STORY = StoryInfo("tones", "Tones", None, None, "test")


def section(title: str, blocks: int) -> Section:
    """A section `blocks` grid frames long, named by its title."""
    return Section(title, title, blocks * GRID_FRAMES / RATE_HZ, HANDOFF_S, (), 0.0)


def tones(section: Section) -> Audio:
    """Chords that glide in pitch and swell, different for every title, fading at the ends."""
    seed = int(hashlib.sha256(section.title.encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(seed)
    t = np.arange(section.frames) / RATE_HZ
    mono = np.zeros(section.frames)
    for hz in rng.uniform(110, 1800, 5):
        glide = 2 * np.pi * hz * (t + 0.01 * t**2)
        mono += np.sin(glide + rng.uniform(0, 2 * np.pi)) * (0.6 + 0.4 * np.sin(0.7 * t))
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / HANDOFF_S)
    samples = np.stack([mono, np.roll(mono, 37)]) * 0.05 * fade
    return Audio(samples.astype(np.float32), RATE_HZ)


def overlap_added(sections: list[Section]) -> np.ndarray:
    handoff = round(HANDOFF_S * RATE_HZ)
    total = sum(s.frames - handoff for s in sections) + handoff
    story = np.zeros((2, total), np.float32)
    at = 0
    for s in sections:
        story[:, at : at + s.frames] += tones(s).samples
        at += s.frames - handoff
    return story


def exported(
    sections: list[Section], make: Callable[[Section], Audio], out: Path, encoded: Store
) -> None:
    """Export through one local worker, the sections' audio made by `make` into a chapter
    cache as the render's mixing would."""
    chapters = AudioCache(out / "chapters")

    def mix(wanted: Sequence[Section]) -> None:
        for section in wanted:
            chapters.put(section.audio_key, make(section))

    with open_executor(jobs=1) as executor:
        export(
            sections,
            STORY,
            out_dir=out,
            inputs="",
            mix=mix,
            chapters=chapters,
            encoded=encoded,
            executor=executor,
        )


def render(sections: list[Section], out: Path, store: Store, ext: str = "m4b") -> np.ndarray:
    exported(sections, tones, out, store)
    return decode(out / "tones" / f"tones.{ext}")


@pytest.mark.parametrize("ext", ["m4b", "mp3"])
def test_spliced_files_have_no_seams(tmp_path: Path, ext: str) -> None:
    sections = [section("one", 78), section("two", 100), section("three", 133)]
    store = Store(tmp_path / "encoded")
    decoded = render(sections, tmp_path / "out", store, ext)
    assert len(store.entries()) == 2 * 3  # one stretch per section and format, spliced
    story = overlap_added(sections)
    if ext == "mp3":  # its LAME tag gives the exact length
        assert decoded.shape[1] == story.shape[1]
    assert 0 <= decoded.shape[1] - story.shape[1] < 1024
    error = decoded[:, : story.shape[1]] - story
    window = 1024
    snr_db = [
        10 * np.log10(np.sum(story[:, i : i + window] ** 2) / np.sum(error[:, i : i + window] ** 2))
        for i in range(0, story.shape[1] - window, window)
        if np.sum(story[:, i : i + window] ** 2) > 1e-3
    ]
    # a gap, a shift or a broken overlap at a splice would bring one window near 0 dB
    assert min(snr_db) > 20.0, min(snr_db)


def test_measured_from_the_stretches_as_from_the_decoded_files(tmp_path: Path) -> None:
    """render.json's figures add up the stretches' levels; pyloudnorm and a 4× oversampled
    decode of each whole file agree with them."""
    sections = [section("one", 78), section("two", 100), section("three", 133)]
    exported(sections, tones, tmp_path, Store(tmp_path / "encoded"))
    files = json.loads((tmp_path / "tones" / "render.json").read_text())["files"]
    for ext in ("m4b", "mp3"):
        figures = files[f"tones.{ext}"]
        decoded = decode(tmp_path / "tones" / f"tones.{ext}")
        lufs = pyloudnorm.Meter(RATE_HZ).integrated_loudness(decoded.T.astype(np.float64))
        assert figures["integrated_lufs"] == pytest.approx(lufs, abs=0.05)
        oversampled = decode(tmp_path / "tones" / f"tones.{ext}", rate_hz=4 * RATE_HZ)
        peak_db = 20 * np.log10(np.abs(oversampled).max())
        assert figures["true_peak_dbtp"] == pytest.approx(peak_db, abs=0.2)
        assert 0 < figures["loudness_range_lu"] < 20


def test_an_edit_reencodes_only_the_stretches_that_hear_it(tmp_path: Path) -> None:
    before = [section("one", 78), section("two", 100), section("three", 133)]
    after = [before[0], section("two, edited", 122), before[2]]
    store = Store(tmp_path / "encoded")
    render(before, tmp_path / "first", store)
    edited = render(after, tmp_path / "second", store)
    # in each format, the edited section's stretch, and the one before, which crossfades into it
    assert len(store.entries()) == 2 * (3 + 2)
    fresh = render(after, tmp_path / "fresh", Store(tmp_path / "fresh-encoded"))
    assert np.array_equal(edited, fresh)
    fresh_mp3 = decode(tmp_path / "fresh" / "tones" / "tones.mp3")
    assert np.array_equal(decode(tmp_path / "second" / "tones" / "tones.mp3"), fresh_mp3)


def test_a_damaged_stretch_is_encoded_again(tmp_path: Path) -> None:
    sections = [section("one", 78), section("two", 100), section("three", 133)]
    store = Store(tmp_path / "encoded")
    first = render(sections, tmp_path / "first", store)
    victim = store.entries()[1]
    blob = bytearray(victim.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    victim.write_bytes(bytes(blob))
    again = render(sections, tmp_path / "again", store)
    assert np.array_equal(first, again)
    assert all(store.read(path.stem) is not None for path in store.entries())


def test_a_spliced_stretch_s_frames_are_let_go(tmp_path: Path) -> None:
    """A night's tail is hundreds of stretches: splicing keeps each one's levels, never its
    frames, so the render's memory does not grow with the story's length."""
    store = Store(tmp_path / "encoded")
    levels = Levels(7, np.arange(50.0), np.ones(50, np.float32))
    frames = bytes(range(256)) * 40_000  # 10 MB
    store.write("k", frames, *levels.to_bytes(), meta={"frames_bytes": len(frames), "first_hop": 7})
    tracemalloc.start()
    try:
        found = _read_stretch(store, _Stretch("k", 0, 0, 0, None, 0, 0))
        assert found is not None
        spliced, kept = found
        assert spliced == frames
        del found, spliced
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 100_000
    assert kept.first_hop == 7 and np.array_equal(kept.energy, levels.energy)


def buzz(section: Section) -> Audio:
    """A 60 Hz buzz, a hum with every odd harmonic to 21 kHz (the shape of a mains hum through
    a cheap amplifier), limited at the section's ceiling. AAC's low-pass turns its edges into
    overshoot: at the default ceiling, -3 dBTP, the M4B peaks near -1 dBTP."""
    t = np.arange(section.frames) / RATE_HZ
    mono = sum(np.sin(2 * np.pi * 60 * k * t) / k for k in range(1, 351, 2))
    mono *= np.clip(np.minimum(t - HANDOFF_S, t[-1] - HANDOFF_S - t), 0, 1)  # silent in handoffs
    loud = Audio(np.stack([mono, mono]).astype(np.float32), RATE_HZ)
    return limit(loud.gain(-true_peak_dbtp(loud)), section.ceiling_dbtp)


def test_every_encoded_file_holds_the_true_peak_limit(tmp_path: Path) -> None:
    sections = [section("calm", 67), section("buzz", 67), section("calm again", 67)]
    ceilings: list[tuple[str, float]] = []

    def load(section: Section) -> Audio:
        ceilings.append((section.title, section.ceiling_dbtp))
        return buzz(section) if section.title == "buzz" else tones(section)

    exported(sections, load, tmp_path, Store(tmp_path / "enc"))
    folder = tmp_path / "tones"
    report = json.loads((folder / "render.json").read_text())
    for name in ("tones.m4b", "tones.mp3"):
        assert report["files"][name]["true_peak_dbtp"] <= PEAK_LIMIT_DBTP
        oversampled = decode(folder / name, rate_hz=4 * RATE_HZ)
        assert 20 * np.log10(np.abs(oversampled).max()) <= PEAK_LIMIT_DBTP + 0.1
    # only the buzz was mastered again, under a lower ceiling; the calm sections were not
    assert {c for title, c in ceilings if title != "buzz"} == {CEILING_DBTP}
    assert min(c for title, c in ceilings if title == "buzz") < CEILING_DBTP


def test_an_encoder_that_fails_is_an_error_naming_why(tmp_path: Path) -> None:
    """The stretch's encoder, decoder and measuring run at once; an encoder that stops ends in
    ffmpeg's own message, not in a wait for ever."""
    from bedtime_audio.errors import ExportError
    from bedtime_audio.export import _AAC, _encoded_and_heard, _Stretch

    broken = dataclasses.replace(_AAC, args=("-c:a", "no-such-encoder", "-f", "adts"))
    stretch = _Stretch("key", 0, 10 * RATE_HZ, 0, None, 0, 10 * RATE_HZ)
    block = np.zeros((RATE_HZ, 2), np.float32)

    def feed(sink: Any) -> None:
        for second in range(10):
            sink.write(second * RATE_HZ, block)

    with pytest.raises(ExportError, match="no-such-encoder"):
        _encoded_and_heard("ffmpeg", broken, stretch, tmp_path / "stretch.aac", feed)
