import tracemalloc

import numpy as np
import pytest
from scipy.signal import welch
from scipy.stats import kurtosis

from bedtime_audio.executors import threaded_map
from bedtime_audio.model import Layer
from bedtime_audio.soundscape import PRESETS, arc_gains, family, render_bed, render_preset
from bedtime_audio.soundscape.noise import (
    brown,
    decaying_noise,
    events,
    filtered,
    pink,
    ringing,
)

RATE = 44100


def slope_db_per_octave(signal: np.ndarray, lo_hz: float, hi_hz: float) -> float:
    freqs, power = welch(signal, fs=RATE, nperseg=8192)
    band = (freqs >= lo_hz) & (freqs <= hi_hz)
    return float(np.polyfit(np.log2(freqs[band]), 10 * np.log10(power[band]), 1)[0])


def test_pink_noise_falls_three_db_per_octave() -> None:
    signal = pink(np.random.default_rng(1), RATE * 20, channels=1)[0]
    assert slope_db_per_octave(signal, 50, 10000) == pytest.approx(-3.0, abs=1.0)
    assert kurtosis(signal) == pytest.approx(0.0, abs=0.3)  # Gaussian, as noise in nature


def test_brown_noise_falls_six_db_per_octave() -> None:
    signal = brown(np.random.default_rng(2), RATE * 20, RATE, channels=1)[0]
    assert slope_db_per_octave(signal, 100, 5000) == pytest.approx(-6.0, abs=1.0)
    assert kurtosis(signal) == pytest.approx(0.0, abs=0.3)


def test_presets_declare_both_families() -> None:
    assert {p.family for p in PRESETS.values()} == {"synthetic", "natural"}
    assert {"server-hum", "digital-drone", "data-pulse", "glitch"} == {
        name for name, p in PRESETS.items() if p.family == "synthetic"
    }
    assert family((Layer("rain"), Layer("wind"))) == "natural"
    assert family((Layer("rain"), Layer("glitch"))) == "mixed"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_stereo_finite_and_seam_free(name: str) -> None:
    signal = render_preset(name, RATE * 8, RATE, seed=7)
    assert signal.shape == (2, RATE * 8)
    assert np.isfinite(signal).all()
    assert not np.allclose(signal[0], signal[1]), "the two channels should differ"
    # Seam-free: generated, not tiled — no 1 s stretch repeats another, and the
    # largest jump between neighbouring samples stays within the signal's own range.
    second = signal[0, RATE : 2 * RATE]
    for start in range(2 * RATE, 7 * RATE, RATE):
        later = signal[0, start : start + RATE]
        assert abs(np.corrcoef(second, later)[0, 1]) < 0.99
    steps = np.abs(np.diff(signal, axis=1))
    assert steps.max() < 6 * np.abs(signal).std() + 0.05
    rms = np.sqrt(np.mean(signal**2, axis=1))
    assert (rms > 1e-4).all(), "no digital silence"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_made_in_a_few_buffers_of_its_own_size(name: str) -> None:
    """A bed is made a minute at a time; what making one minute takes, beside the minute
    itself, adds to the mixing worker's peak."""
    render_preset(name, RATE, RATE, 1)  # calibrated once, outside the measure
    tracemalloc.start()
    try:
        made = render_preset(name, RATE * 20, RATE, 1)
        _held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert made.dtype == np.float32  # half the memory of float64, and all a mix keeps
    assert peak <= 4.5 * made.nbytes, peak / made.nbytes


def test_same_seed_same_samples_other_seed_other_samples() -> None:
    bed = (Layer("rain"), Layer("wind", gain_db=-6))
    a = render_bed(bed, 3.0, RATE, "story", "chapter-0")
    b = render_bed(bed, 3.0, RATE, "story", "chapter-0")
    c = render_bed(bed, 3.0, RATE, "story", "chapter-1")
    np.testing.assert_array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, c.samples)


def test_layer_gain_and_lowpass_apply() -> None:
    plain = render_bed((Layer("rain"),), 4.0, RATE, "s")
    softer = render_bed((Layer("rain", gain_db=-6.0),), 4.0, RATE, "s")
    np.testing.assert_allclose(softer.samples, plain.samples * 10 ** (-6 / 20), atol=1e-6)
    dull = render_bed((Layer("rain", lowpass_hz=1000.0),), 4.0, RATE, "s")
    freqs, bright_power = welch(plain.samples[0], fs=RATE, nperseg=4096)
    _, dull_power = welch(dull.samples[0], fs=RATE, nperseg=4096)
    high = freqs > 4000
    assert dull_power[high].sum() < 0.05 * bright_power[high].sum()


def test_a_mixed_bed_moves_from_synthetic_to_natural() -> None:
    hum, rain = Layer("server-hum"), Layer("rain")
    arc = render_bed((hum, rain), 12.0, RATE, "arc", arc_db=6.0).samples
    synthetic = render_bed((hum,), 12.0, RATE, "arc").samples
    natural = render_bed((rain,), 12.0, RATE, "arc").samples
    gains = dict(arc_gains(arc.shape[1], 6.0))
    expected = synthetic * gains["synthetic"] + natural * gains["natural"]
    np.testing.assert_allclose(arc, expected, atol=1e-5)
    assert 20 * np.log10(gains["synthetic"][[0, -1]]) == pytest.approx([0.0, -6.0])
    assert 20 * np.log10(gains["natural"][[0, -1]]) == pytest.approx([-6.0, 0.0])
    plain = render_bed((rain,), 12.0, RATE, "arc", arc_db=6.0).samples
    np.testing.assert_array_equal(plain, natural)  # one family: no arc to follow


def test_a_bed_made_in_threads_is_the_same_bed() -> None:
    """Two segments of two layers in each family, made two at a time, added in order."""
    bed = (Layer("server-hum"), Layer("glitch", gain_db=-6.0), Layer("rain"), Layer("wind"))
    one = render_bed(bed, 66.0, RATE, "threads", arc_db=6.0).samples
    two = render_bed(bed, 66.0, RATE, "threads", arc_db=6.0, threads=2).samples
    np.testing.assert_array_equal(one, two)


def test_threaded_map_keeps_order_and_makes_no_more_than_its_threads_ahead() -> None:
    made: list[int] = []

    def square(n: int) -> int:
        made.append(n)
        return n * n

    read = []
    for value in threaded_map(square, range(12), 3):
        assert len(made) - len(read) <= 3  # made, not yet read: at most one per thread
        read.append(value)
    assert read == [n * n for n in range(12)]


@pytest.mark.parametrize(
    ("kind", "cutoff_hz"), [("bandpass", (500.0, 2000.0)), ("lowpass", 5000.0)]
)
def test_events_of_a_filtered_kernel_are_the_filtered_events(
    kind: str, cutoff_hz: float | tuple[float, float]
) -> None:
    """Rain drops, crackles and glitch ticks filter their kernel once, not their whole track."""
    kernel = decaying_noise(np.random.default_rng(2), RATE, 0.03, 0.006)
    track = events(np.random.default_rng(3), RATE * 10, RATE, 20.0, kernel)
    expected = filtered(track, RATE, kind, cutoff_hz)
    placed = events(
        np.random.default_rng(3), RATE * 10, RATE, 20.0, ringing(kernel, RATE, kind, cutoff_hz)
    )
    assert np.abs(expected).max() > 0.1
    # equal to float32's rounding, filtered: -100 dB
    np.testing.assert_allclose(placed, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
