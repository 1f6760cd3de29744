"""The cue library: every effect gentle (a soft onset at frame 0, energy below 6 kHz, a fade to
silence, peaks well under full scale), at the cue level, the same for a seed and varied by
another; and each sounds like what it is named for, in a property a listener would notice."""

from __future__ import annotations

import functools
import inspect

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import find_peaks, welch

from bedtime_audio.soundscape.effects import CUE_LUFS, EFFECTS, loudness_lufs, render_effect

RATE = 44100
LENGTHS_S = {
    "chime": (2.5, 3.5),
    "glitch": (0.8, 1.2),
    "door": (0.8, 1.2),
    "footsteps": (2.0, 4.5),
    "kettle": (3.5, 4.5),
    "page-turn": (0.6, 1.0),
    "owl": (2.0, 3.0),
    "heartbeat": (5.0, 6.0),
}
"""What each effect should last: a cue is a moment, not a bed."""


@functools.cache
def rendered(name: str, seed: int = 1, rate_hz: int = RATE) -> np.ndarray:
    audio = render_effect(name, rate_hz, seed)
    audio.flags.writeable = False
    return audio


def measured_lufs(audio: np.ndarray) -> float:
    """pyloudnorm's integrated loudness, a short sound padded with silence to half a second."""
    padded = np.pad(audio, ((0, 0), (0, max(0, RATE // 2 - audio.shape[1]))))
    return float(pyloudnorm.Meter(RATE).integrated_loudness(padded.T.astype(np.float64)))


def onsets_s(audio: np.ndarray, gap_s: float, hop_s: float = 0.02) -> np.ndarray:
    """Peaks of the RMS envelope (hop_s frames) at least gap_s apart and a third of the top."""
    hop = round(hop_s * RATE)
    count = audio.shape[1] // hop
    envelope = np.sqrt(np.mean(audio[:, : count * hop].reshape(2, count, hop) ** 2, axis=(0, 2)))
    peaks, _ = find_peaks(envelope, height=envelope.max() / 3, distance=round(gap_s / hop_s))
    return peaks * hop_s


def test_the_library_names_its_effects_in_both_families() -> None:
    assert set(EFFECTS) == set(LENGTHS_S)
    assert {n for n, e in EFFECTS.items() if e.family == "synthetic"} == {"chime", "glitch"}
    assert {e.family for e in EFFECTS.values()} == {"synthetic", "natural"}
    for name, effect in EFFECTS.items():
        assert effect.name == name
        assert effect.description == inspect.getdoc(effect.generate)
        assert "\n" not in effect.description and len(effect.description) > 20


@pytest.mark.parametrize("name", sorted(EFFECTS))
def test_every_effect_is_stereo_float32_and_a_moment_long(name: str) -> None:
    audio = rendered(name)
    assert audio.dtype == np.float32 and audio.ndim == 2 and audio.shape[0] == 2
    assert np.isfinite(audio).all()
    lo_s, hi_s = LENGTHS_S[name]
    assert lo_s <= audio.shape[1] / RATE <= hi_s
    assert not np.allclose(audio[0], audio[1]) or name == "heartbeat", "a little stereo"


@pytest.mark.parametrize("name", sorted(EFFECTS))
def test_every_effect_is_at_the_cue_level_and_well_under_full_scale(name: str) -> None:
    audio = rendered(name)
    assert measured_lufs(audio) == pytest.approx(CUE_LUFS, abs=0.5)
    assert 20 * np.log10(np.abs(audio).max()) < -6.0


@pytest.mark.parametrize("name", sorted(EFFECTS))
def test_every_effect_starts_softly_at_once_and_fades_to_silence(name: str) -> None:
    audio = rendered(name)
    peak = np.abs(audio).max()
    loudest = np.abs(audio).max(axis=0)
    assert loudest[: round(0.002 * RATE)].max() < 0.2 * peak, "no click: a few ms of attack"
    assert np.argmax(loudest > 0.01 * peak) < 0.005 * RATE, "the first frame starts the sound"
    assert loudest[-1] < 1e-3 and loudest[-round(0.01 * RATE) :].max() < 0.05 * peak


@pytest.mark.parametrize("name", sorted(EFFECTS))
def test_every_effect_keeps_its_energy_below_6_khz(name: str) -> None:
    freqs, power = welch(rendered(name).mean(axis=0), RATE, nperseg=4096)
    assert power[freqs < 6000].sum() > 0.9 * power.sum(), "nothing shrill"


@pytest.mark.parametrize("name", sorted(EFFECTS))
def test_a_seed_gives_the_same_take_and_another_seed_another(name: str) -> None:
    again = render_effect(name, RATE, 1)
    np.testing.assert_array_equal(again, rendered(name))
    other = rendered(name, seed=2)
    frames = min(other.shape[1], again.shape[1])
    assert not np.allclose(other[:, :frames], again[:, :frames], atol=1e-3)


@pytest.mark.parametrize("name", sorted(EFFECTS))
def test_an_effect_lasts_as_long_at_every_sample_rate(name: str) -> None:
    """The mixer measures a cue's length at 8 kHz and renders it at the full rate."""
    for seed in (1, 2):
        low = rendered(name, seed, 8000)
        assert np.isfinite(low).all()
        assert low.shape[1] / 8000 == pytest.approx(rendered(name, seed).shape[1] / RATE, abs=1e-3)


def test_the_heartbeat_slows_from_about_70_toward_50_beats_a_minute() -> None:
    for seed in (1, 2, 3):
        intervals_s = np.diff(onsets_s(rendered("heartbeat", seed), gap_s=0.5))
        assert len(intervals_s) >= 4
        assert 60 / intervals_s[0] == pytest.approx(70, abs=5)
        assert 60 / intervals_s[-1] == pytest.approx(52, abs=5)
        assert (np.diff(intervals_s) > -0.03).all(), "never speeding up"


def test_footsteps_are_four_to_six_distinct_steps_at_a_slow_pace() -> None:
    counts = set()
    for seed in range(1, 7):
        steps_s = onsets_s(rendered("footsteps", seed), gap_s=0.3)
        assert 4 <= len(steps_s) <= 6
        assert 0.5 < np.diff(steps_s).min() and np.diff(steps_s).max() < 0.8
        counts.add(len(steps_s))
    assert len(counts) > 1, "the seed decides how many steps"


def test_the_owl_hoots_twice_around_400_hz() -> None:
    for seed in (1, 4):
        audio = rendered("owl", seed)
        freqs, power = welch(audio.mean(axis=0), RATE, nperseg=8192)
        assert 250 < freqs[np.argmax(power)] < 700
        assert len(onsets_s(audio, gap_s=0.5)) == 2


def test_the_chime_rings_with_partials_that_are_not_harmonics() -> None:
    freqs, power = welch(rendered("chime", 5).mean(axis=0), RATE, nperseg=16384)
    peaks, _ = find_peaks(power, height=power.max() * 1e-3, distance=20)
    strongest_hz = freqs[peaks[np.argmax(power[peaks])]]
    ratios = freqs[peaks] / strongest_hz
    assert 500 < strongest_hz < 1000, "the strongest partial is the lowest, a bell's strike note"
    partials = ratios[ratios > 1.5]
    assert len(partials) >= 1
    assert all(abs(r - round(r)) > 0.15 for r in partials), "a bell, not a note"


def test_a_short_or_faint_sound_is_still_measured() -> None:
    t = np.arange(round(0.2 * RATE)) / RATE
    tone = np.stack([np.sin(2 * np.pi * 1000 * t)] * 2)
    short = loudness_lufs(0.1 * tone, RATE)
    assert np.isfinite(short) and loudness_lufs(0.2 * tone, RATE) == pytest.approx(
        short + 20 * np.log10(2)
    )
    faint = 10 ** (-90 / 20) * tone  # under the meter's -70 LUFS gate: judged by its peak
    assert loudness_lufs(faint, RATE) == pytest.approx(-90 - 12.0, abs=0.01)
    assert loudness_lufs(np.zeros((2, RATE)), RATE) == CUE_LUFS
