"""Levels per 100 ms hop, with synthesized signals: stretches measured on their own add up to the
whole, and the figures agree with pyloudnorm."""

from collections.abc import Iterator

import numpy as np
import pyloudnorm
import pytest

from bedtime_audio.audio import Audio
from bedtime_audio.master import true_peak_dbtp
from bedtime_audio.measure import PIECE_FRAMES, RATE_HZ, Levels, levels

CUT = 5 * RATE_HZ + 1234
"""Where one stretch ends and the next begins: on no hop's edge."""
WARM = RATE_HZ
"""The audio before the cut that the second stretch hears."""


def signal(seconds: float, seed: int = 1) -> np.ndarray:
    """A steady tone over noise, 12 dB louder in its second half."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE_HZ)) / RATE_HZ
    mono = 0.05 * np.sin(2 * np.pi * 331 * t) + 0.03 * rng.standard_normal(t.size)
    mono[t.size // 2 :] *= 10 ** (12 / 20)
    return np.stack([mono, np.roll(mono, 11)]).astype(np.float32)


def pieces(samples: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, samples.shape[1], PIECE_FRAMES):
        yield samples[:, start : start + PIECE_FRAMES]


def test_stretches_add_up_to_the_whole() -> None:
    story = signal(30)
    whole = levels(pieces(story), 0)
    first = levels(pieces(story[:, : CUT + WARM]), 0, 0, CUT)
    second = levels(pieces(story[:, CUT - WARM :]), CUT - WARM, CUT)
    joined = Levels.joined([first, second])
    assert joined.energy.size == whole.energy.size == -(-story.shape[1] // (RATE_HZ // 10))
    np.testing.assert_allclose(joined.energy, whole.energy, rtol=1e-6)
    np.testing.assert_allclose(joined.peaks, whole.peaks, rtol=1e-6)
    found = joined.measured(story.shape[1], [(0.0, 15.0), (15.0, 30.0)])
    assert found.true_peak_dbtp == pytest.approx(true_peak_dbtp(Audio(story, RATE_HZ)), abs=1e-4)
    assert found.span_peaks_dbtp[0] < found.span_peaks_dbtp[1] - 6


def test_loudness_as_pyloudnorm_measures_it() -> None:
    story = signal(30, seed=2)
    found = levels(pieces(story), 0).measured(story.shape[1], [(0.0, 15.0), (15.0, 30.0)])
    meter = pyloudnorm.Meter(RATE_HZ)
    assert found.integrated_lufs == pytest.approx(
        meter.integrated_loudness(story.T.astype(np.float64)), abs=0.01
    )
    first_half = meter.integrated_loudness(story[:, : 15 * RATE_HZ].T.astype(np.float64))
    assert found.span_lufs[0] == pytest.approx(first_half, abs=0.01)
    # two steady halves 12 dB apart: the loudness range spans them
    assert found.loudness_range_lu == pytest.approx(12.0, abs=1.0)


@pytest.mark.parametrize("limit_of_loudest", [0.5, 4.0])
def test_with_a_limit_the_loudest_peak_and_those_over_the_limit_stay_exact(
    limit_of_loudest: float,
) -> None:
    story = signal(30, seed=3)
    story[:, 20 * RATE_HZ : 20 * RATE_HZ + 500] *= 8  # a burst, the loudest peak
    exact = levels(pieces(story), 0)
    limit = limit_of_loudest * float(exact.peaks.max())
    found = levels(pieces(story), 0, limit=limit)
    assert found.peaks.max() == exact.peaks.max()
    over = exact.peaks > limit
    np.testing.assert_array_equal(found.peaks[over], exact.peaks[over])
    # elsewhere a hop may hold its largest sample: never more than its true peak
    assert np.all(found.peaks <= exact.peaks)
    assert np.count_nonzero(found.peaks < exact.peaks) > found.peaks.size // 4
    np.testing.assert_array_equal(found.energy, exact.energy)
