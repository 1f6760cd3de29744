"""The export stage with synthesized sections and the real ffmpeg: the M4B spliced from
separately encoded stretches plays like one encode, and an edit re-encodes only its own."""

import hashlib
from pathlib import Path

import numpy as np
from conftest import decode

from bedtime_audio.artifacts import StoryInfo
from bedtime_audio.audio import Audio
from bedtime_audio.cache import Store
from bedtime_audio.export import Mastered, Section, export
from bedtime_audio.mix import GRID_FRAMES, RATE_HZ

HANDOFF_S = 4.0
STORY = StoryInfo("tones", "Tones", None, None, "test")


def section(title: str, blocks: int) -> Section:
    """A section `blocks` grid frames long, named by its title."""
    return Section(title, title, blocks * GRID_FRAMES / RATE_HZ, HANDOFF_S, (), 0.0)


def tones(section: Section) -> Mastered:
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
    return Mastered({"mix": Audio(samples.astype(np.float32), RATE_HZ)}, -20.0)


def overlap_added(sections: list[Section]) -> np.ndarray:
    handoff = round(HANDOFF_S * RATE_HZ)
    total = sum(s.frames - handoff for s in sections) + handoff
    story = np.zeros((2, total), np.float32)
    at = 0
    for s in sections:
        story[:, at : at + s.frames] += tones(s).tracks["mix"].samples
        at += s.frames - handoff
    return story


def render(sections: list[Section], out: Path, store: Store) -> np.ndarray:
    export(sections, tones, STORY, out_dir=out, inputs="", encoded=store)
    return decode(out / "tones" / "tones.m4b")


def test_spliced_m4b_has_no_seams(tmp_path: Path) -> None:
    sections = [section("one", 700), section("two", 900), section("three", 1200)]
    store = Store(tmp_path / "encoded")
    decoded = render(sections, tmp_path / "out", store)
    assert len(store.entries()) == 3  # one stretch per section, spliced
    story = overlap_added(sections)
    assert 0 <= decoded.shape[1] - story.shape[1] < GRID_FRAMES
    error = decoded[:, : story.shape[1]] - story
    window = 1024
    snr_db = [
        10 * np.log10(np.sum(story[:, i : i + window] ** 2) / np.sum(error[:, i : i + window] ** 2))
        for i in range(0, story.shape[1] - window, window)
        if np.sum(story[:, i : i + window] ** 2) > 1e-3
    ]
    # a gap or a broken overlap at a splice would bring one window near 0 dB
    assert min(snr_db) > 20.0, min(snr_db)


def test_an_edit_reencodes_only_the_stretches_that_hear_it(tmp_path: Path) -> None:
    before = [section("one", 700), section("two", 900), section("three", 1200)]
    after = [before[0], section("two, edited", 1100), before[2]]
    store = Store(tmp_path / "encoded")
    render(before, tmp_path / "first", store)
    edited = render(after, tmp_path / "second", store)
    # the edited section's stretch, and the one before, which crossfades into it
    assert len(store.entries()) == 3 + 2
    fresh = render(after, tmp_path / "fresh", Store(tmp_path / "fresh-encoded"))
    assert np.array_equal(edited, fresh)


def test_a_damaged_stretch_is_encoded_again(tmp_path: Path) -> None:
    sections = [section("one", 700), section("two", 900), section("three", 1200)]
    store = Store(tmp_path / "encoded")
    first = render(sections, tmp_path / "first", store)
    victim = store.entries()[1]
    blob = bytearray(victim.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    victim.write_bytes(bytes(blob))
    again = render(sections, tmp_path / "again", store)
    assert np.array_equal(first, again)
    assert all(store.read(path.stem) is not None for path in store.entries())
