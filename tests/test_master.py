import numpy as np
import pyloudnorm
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import resample_poly

from bedtime_audio.audio import Audio
from bedtime_audio.master import (
    HopMeter,
    block_powers,
    gain_to_target,
    gain_to_target_after_limiting,
    integrated_lufs,
    limit,
    limiter_gain,
    loudness_lufs,
    master,
    master_to_target,
    mastered_blocks,
    true_peak_dbtp,
    true_peak_envelope,
)

RATE = 44100


def noise(seconds: float, level: float, seed: int = 0, channels: int = 2) -> Audio:
    rng = np.random.default_rng(seed)
    return Audio(rng.standard_normal((channels, round(seconds * RATE))) * level, RATE)


@pytest.mark.parametrize("channels", [1, 2])
def test_loudness_agrees_with_pyloudnorm(channels: int) -> None:
    samples = noise(12, 0.05, channels=channels).samples.copy()
    samples[:, RATE * 4 : RATE * 8] *= 0.05  # a quiet stretch that the gates must handle
    audio = Audio(samples, RATE)
    reference = pyloudnorm.Meter(RATE).integrated_loudness(samples.T.astype(np.float64))
    assert loudness_lufs(audio) == pytest.approx(reference, abs=0.01)


def test_blocks_of_two_parts_measure_the_whole() -> None:
    a, b = noise(20, 0.1, 1), noise(20, 0.02, 2)
    whole = Audio(np.concatenate([a.samples, b.samples], axis=1), RATE)
    parts = integrated_lufs(np.concatenate([block_powers(a), block_powers(b)]))
    assert parts == pytest.approx(loudness_lufs(whole), abs=0.05)


@settings(max_examples=10, deadline=None)
@given(level=st.floats(0.003, 0.3), target=st.floats(-30, -14))
def test_master_lands_on_target(level: float, target: float) -> None:
    audio = noise(5, level, 3)
    mastered = master(audio, gain_to_target(audio, target), ceiling_dbtp=0.0)
    assert loudness_lufs(mastered) == pytest.approx(target, abs=0.5)


def test_limiter_holds_true_peaks_under_the_ceiling() -> None:
    quiet = noise(3, 0.02, 4).samples.copy()
    quiet[:, RATE : RATE + 200] += 0.9  # a transient far above the ceiling
    limited = limit(Audio(quiet, RATE), ceiling_dbtp=-3.0)
    assert true_peak_dbtp(limited) <= -3.0 + 0.05
    untouched = slice(RATE * 2, RATE * 3)  # away from the transient nothing changes
    np.testing.assert_array_equal(limited.samples[:, untouched], quiet[:, untouched])


def test_true_peak_finds_inter_sample_peaks() -> None:
    t = np.arange(RATE) / RATE
    # A sine at a quarter of the rate, sampled 45° off its crests: samples at 0.707, peak 1.0.
    tone = np.sin(2 * np.pi * (RATE / 4) * t + np.pi / 4).astype(np.float32)
    audio = Audio(np.stack([tone, tone]), RATE)
    assert 20 * np.log10(np.abs(audio.samples).max()) == pytest.approx(-3.01, abs=0.05)
    assert true_peak_dbtp(audio) == pytest.approx(0.0, abs=0.3)


def test_the_envelope_is_the_largest_magnitude_at_four_times_the_rate() -> None:
    """Each frame's envelope is the loudest of its four oversampled values on either channel,
    as scipy's resample_poly makes them, though the values on the samples are not computed."""
    t = np.arange(3 * RATE) / RATE
    samples = noise(3, 0.2, 6).samples.astype(np.float32)
    samples[1] += (0.6 * np.sin(2 * np.pi * 15000.3 * t)).astype(np.float32)
    up = np.abs(resample_poly(samples, 4, 1, axis=1)).max(axis=0)
    expected = up.reshape(-1, 4).max(axis=1)
    np.testing.assert_allclose(true_peak_envelope(Audio(samples, RATE)), expected, rtol=1e-6)


def test_the_limiter_oversamples_only_where_the_ceiling_could_be_passed() -> None:
    """Frames that surely stay under the ceiling are not oversampled; the gain is the same as
    from every frame oversampled, and those frames' envelope is their own sample magnitude."""
    t = np.arange(6 * RATE) / RATE
    # quiet noise with loud quarter-rate bursts whose samples sit 3 dB under their true peaks
    samples = noise(6, 0.01, 5).samples.astype(np.float32)
    burst = (0.85 * np.sin(2 * np.pi * (RATE / 4) * t + np.pi / 4)).astype(np.float32)
    for second in (1, 3, 5):
        samples[:, second * RATE : second * RATE + 3000] += burst[:3000]
    audio = Audio(samples, RATE)
    ceiling = 10 ** (-3.0 / 20)
    everywhere = true_peak_envelope(audio)
    skipping = true_peak_envelope(audio, ceiling)
    assert (everywhere > ceiling).any() and not (np.abs(samples) > ceiling).any()
    np.testing.assert_allclose(skipping[everywhere > ceiling], everywhere[everywhere > ceiling])
    skipped = skipping != everywhere
    assert skipped.mean() > 0.5  # most of the quiet noise is never oversampled
    np.testing.assert_array_equal(skipping[skipped], np.abs(samples).max(axis=0)[skipped])
    expected = np.minimum(1.0, ceiling / everywhere)
    gain = limiter_gain(audio, -3.0)
    assert np.all(gain <= expected + 1e-6)
    assert gain[2 * RATE : 2 * RATE + 1000].min() == 1.0


def test_the_master_is_measured_again_as_a_whole_measuring_would() -> None:
    """Only the seconds the limiter acted on are measured again; the correction is the one a
    meter reading the whole master would make."""
    samples = noise(20, 0.01, 5).samples.copy()
    for start_s in (0.0, 0.5, 1.0, 1.5, 2.0, 5.999, 11.0, 11.5):  # clicks the limiter catches
        at = round(start_s * RATE)
        samples[:, at : at + 200] += 0.2 * np.sin(np.arange(200) * 0.5)
    audio = Audio(samples, RATE)
    first = gain_to_target(audio, -20.0)
    shortfall = gain_to_target(master(audio, first), -20.0)
    assert shortfall > 0.1  # the limiter took enough to be made up
    mastered, gain_db = master_to_target(audio, -20.0)
    assert gain_db == pytest.approx(first + shortfall, abs=5e-7)
    np.testing.assert_array_equal(mastered.samples, master(audio, gain_db).samples)


def test_a_chapter_mastered_a_block_at_a_time_is_the_chapter_mastered_whole() -> None:
    """The limiter sees past each block's ends, and the loudness is measured a second at a
    time, so blocks of two seconds give the samples and the gain of one buffer."""
    samples = noise(20, 0.01, 5).samples.copy()
    for start_s in (0.0, 1.999, 2.0, 3.9995, 5.999, 11.0, 17.99):  # clicks across the cuts
        at = round(start_s * RATE)
        samples[:, at : at + 200] += 0.2 * np.sin(np.arange(200) * 0.5)
    audio = Audio(samples, RATE)
    block = 2 * RATE

    def read(lo: int, hi: int) -> np.ndarray:
        return np.array(samples[:, lo:hi])

    meter = HopMeter(audio.frames, RATE)
    for lo in range(0, audio.frames, block):
        meter.add(samples[:, lo : lo + block])
    gain_db = gain_to_target_after_limiting(read, audio.frames, RATE, meter, -20.0, -3.0, block)
    mastered, whole_gain_db = master_to_target(audio, -20.0)
    assert gain_db == whole_gain_db
    blocks = mastered_blocks(read, audio.frames, RATE, gain_db, -3.0, block)
    parts = [part for _lo, part, _curve in blocks]
    assert {part.shape[1] for part in parts} == {block}
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), mastered.samples)


def test_master_lands_on_target_on_real_speech() -> None:
    """eSpeak NG's peaky speech makes the limiter work; the master still lands on target."""
    from bedtime_audio.engines import load_engine
    from bedtime_audio.model import Voice

    text = "The city hummed all night long, and nobody in it ever really slept. " * 3
    speech = load_engine("pyttsx3").synthesize(text, Voice("pyttsx3", "en-us+f3"))
    stereo = speech.conform(RATE, 2)
    mastered, _gain_db = master_to_target(stereo, -20.0)
    reference = pyloudnorm.Meter(RATE).integrated_loudness(mastered.samples.T.astype(np.float64))
    assert reference == pytest.approx(-20.0, abs=0.5)
    assert true_peak_dbtp(mastered) <= -2.5 + 0.05
