"""The cue library: every effect gentle (soft onset, low energy, a fade to silence, no peak
above PEAK_DBFS), at the cue level, the same for a seed and varied by another; and each sounds
like what it is named for, in a property a listener would notice."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import find_peaks, welch

from bedtime_audio.soundscape.effects import CUE_LUFS, EFFECTS, PEAK_DBFS, render_effect

RATE = 44100


def _loudness(audio: np.ndarray) -> float:
    padded = np.pad(audio, ((0, 0), (0, max(0, RATE // 2 - audio.shape[1]))))
    return float(pyloudnorm.Meter(RATE).integrated_loudness(padded.T.astype(np.float64)))


def _envelope(audio: np.ndarray, hop_s: float = 0.01) -> np.ndarray:
    hop = round(hop_s * RATE)
    frames = audio.shape[1] // hop
    return np.sqrt(np.mean(audio[:, : frames * hop].reshape(2, frames, hop) ** 2, axis=(0, 2)))


def _onsets(audio: np.ndarray, gap_s: float) -> np.ndarray:
    envelope = _envelope(audio)
    peaks, _ = find_peaks(envelope, height=envelope.max() * 0.3, distance=round(gap_s / 0.01))
    return peaks * 0.01


@pytest.mark.parametrize("name", sorted(EFFECTS))
def test_every_effect_is_gentle_levelled_and_seeded(name: str) -> None:
    audio = render_effect(name, RATE, 1)
    assert audio.dtype == np.float32 and audio.shape[0] == 2 and np.isfinite(audio).all()
    assert 0.5 <= audio.shape[1] / RATE <= 7.0
    peak_db = 20 * np.log10(np.abs(audio).max())
    assert peak_db <= PEAK_DBFS + 0.01
    loudness = _loudness(audio)
    assert loudness == pytest.approx(CUE_LUFS, abs=0.5) or (
        loudness < CUE_LUFS and peak_db == pytest.approx(PEAK_DBFS, abs=0.01)
    ), "at the cue level, or as near as its peak allows"
    assert np.abs(audio[:, : round(0.002 * RATE)]).max() < 0.3 * np.abs(audio).max(), "soft onset"
    assert np.abs(audio[:, -1]).max() < 1e-3, "fades to silence"
    freqs, power = welch(audio[0], RATE, nperseg=4096)
    assert power[freqs < 6000].sum() / power.sum() > 0.9, "nothing shrill"
    assert np.array_equal(audio, render_effect(name, RATE, 1))
    other = render_effect(name, RATE, 2)
    frames = min(other.shape[1], audio.shape[1])
    assert not np.allclose(other[:, :frames], audio[:, :frames]), "another seed, another take"


def test_the_heartbeat_slows() -> None:
    onsets = _onsets(render_effect("heartbeat", RATE, 1), gap_s=0.5)
    intervals = np.diff(onsets)
    assert len(onsets) >= 5
    assert intervals[-1] > intervals[0] * 1.2
    assert 60 / intervals[0] == pytest.approx(70, abs=6)


def test_footsteps_are_five_distinct_steps() -> None:
    onsets = _onsets(render_effect("footsteps", RATE, 3), gap_s=0.3)
    assert len(onsets) == 5
    assert np.diff(onsets).min() > 0.4


def test_the_owl_hoots_twice_around_400_hz() -> None:
    audio = render_effect("owl", RATE, 4)
    freqs, power = welch(audio.mean(axis=0), RATE, nperseg=8192)
    assert 250 < freqs[np.argmax(power)] < 700
    assert len(_onsets(audio, gap_s=0.5)) == 2


def test_the_chime_rings_with_partials_that_are_not_harmonics() -> None:
    freqs, power = welch(render_effect("chime", RATE, 5)[0], RATE, nperseg=16384)
    peaks, _ = find_peaks(power, height=power.max() * 1e-3, distance=20)
    strongest = freqs[peaks[np.argmax(power[peaks])]]
    ratios = freqs[peaks] / strongest
    assert any(abs(r - round(r)) > 0.2 for r in ratios if r > 1.5), "a bell, not a note"
