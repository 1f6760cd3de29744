"""The synthetic family: the hush of machines that keep people awake, or asleep on schedule."""

from __future__ import annotations

import numpy as np

from .noise import at_low_rate, decaying_noise, events, filtered, lfo, pink, ringing, tone, wander


def server_hum(rng: np.random.Generator, frames: int, rate_hz: int) -> np.ndarray:
    """Mains hum with its harmonics under the broadband whirr of cooling fans."""

    def hum(frames: int, rate_hz: float) -> np.ndarray:
        harmonics = sum(
            tone(frames, rate_hz, 60 * k, rng.uniform(0, 2 * np.pi)) / k**1.5 for k in range(1, 7)
        )
        return np.asarray(harmonics) * (1 + 0.1 * wander(rng, frames, rate_hz, (13.0, 29.0)))

    low = at_low_rate(frames, rate_hz, hum)
    fan = filtered(pink(rng, frames), rate_hz, "bandpass", (300.0, 9000.0))
    fan *= 1 + 0.15 * wander(rng, frames, rate_hz, (7.0, 17.0, 41.0))
    return 0.25 * low[np.newaxis, :] + fan


def digital_drone(rng: np.random.Generator, frames: int, rate_hz: int) -> np.ndarray:
    """Slow pads of detuned sines on a low fifth, breathing on long cycles."""

    def pads(frames: int, rate_hz: float) -> np.ndarray:
        out = np.zeros((2, frames), np.float32)
        for index, root_hz in enumerate((55.0, 82.5, 110.0, 165.0, 220.0)):
            for detune_hz, pan in ((-0.21, 0.2), (0.0, 0.5), (0.17, 0.8)):
                swell = lfo(frames, rate_hz, 19.0 + 7.3 * index, rng.uniform(0, 6.3))
                swell = (0.6 + 0.4 * swell) / (1 + index)
                phase = rng.uniform(0, 2 * np.pi)
                voice = tone(frames, rate_hz, root_hz + detune_hz, phase) * swell
                out[0] += voice * np.sqrt(1 - pan)
                out[1] += voice * np.sqrt(pan)
        return out

    out = at_low_rate(frames, rate_hz, pads)
    shimmer = filtered(pink(rng, frames), rate_hz, "bandpass", (1500.0, 7000.0))
    shimmer *= 3.0 * (0.7 + 0.3 * wander(rng, frames, rate_hz, (13.0, 29.0)))
    return out + shimmer


def data_pulse(rng: np.random.Generator, frames: int, rate_hz: int) -> np.ndarray:
    """A soft sub-bass pulse, slower than a resting heart, over a faint electric hiss."""

    def pulse(frames: int, rate_hz: float) -> np.ndarray:
        beat_s = 1.25
        phase = (np.arange(frames) / rate_hz % beat_s / beat_s).astype(np.float32)
        envelope = np.where(phase < 0.35, np.sin(np.pi * phase / 0.35) ** 2, 0.0)
        return (tone(frames, rate_hz, 48.0) + 0.3 * tone(frames, rate_hz, 96.0)) * envelope

    hiss = filtered(pink(rng, frames), rate_hz, "bandpass", (2000.0, 8000.0)) * 1.2
    return at_low_rate(frames, rate_hz, pulse)[np.newaxis, :] + hiss


def glitch(rng: np.random.Generator, frames: int, rate_hz: int) -> np.ndarray:
    """A hushed electrical bed with sparse soft dropouts and moments of bit-crushed grain."""
    bed = filtered(pink(rng, frames), rate_hz, "bandpass", (150.0, 3000.0))
    hold = 8
    crushed = np.repeat(np.round(bed[:, ::hold] * 6) / 6, hold, axis=1)[:, :frames]
    ramp = np.hanning(max(3, int(0.06 * rate_hz)))
    window = np.ones(max(1, int(0.3 * rate_hz)))
    kernel = np.convolve(window, ramp / ramp.sum())
    crush_amount = np.clip(events(rng, frames, rate_hz, 0.25, kernel, 0.0), 0, 1)
    dropout = np.clip(events(rng, frames, rate_hz, 0.2, kernel * 0.7, 0.0), 0, 0.7)
    # bed * (1 - crush_amount) + crushed * crush_amount, then * (1 - dropout) + ticks, worked in
    # place: a long segment's stereo buffers are large
    bed *= 1 - crush_amount
    crushed *= crush_amount
    bed += crushed
    del crushed
    bed *= 1 - dropout
    tick = ringing(decaying_noise(rng, rate_hz, 0.02, 0.004), rate_hz, "bandpass", (800.0, 2500.0))
    ticks = events(rng, frames, rate_hz, 0.5, tick, 18.0)
    ticks *= 0.3
    bed += ticks
    return bed
