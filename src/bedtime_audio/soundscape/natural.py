"""The natural family: the sounds of real rest, where every story ends."""

from __future__ import annotations

import numpy as np

from .noise import brown, decaying_noise, events, filtered, pink, ringing, swept, wander


def brown_noise(rng: np.random.Generator, frames: int, rate_hz: int) -> np.ndarray:
    """Deep, even brown noise."""
    return filtered(brown(rng, frames, rate_hz), rate_hz, "highpass", 20.0)


def rain(rng: np.random.Generator, frames: int, rate_hz: int) -> np.ndarray:
    """A soft pink bed of steady rain on leaves with Poisson-timed drops close by."""
    bed = filtered(pink(rng, frames), rate_hz, "bandpass", (200.0, 2500.0))
    for channel in bed:  # drops * 1.5 added in place: a long segment's buffers are large
        drops = events(rng, frames, rate_hz, 35.0, _drop(rng, rate_hz), 20.0)
        drops *= 1.5
        channel += drops
    return bed


def _drop(rng: np.random.Generator, rate_hz: int) -> np.ndarray:
    return ringing(decaying_noise(rng, rate_hz, 0.03, 0.006), rate_hz, "bandpass", (500.0, 2000.0))


def wind(rng: np.random.Generator, frames: int, rate_hz: int) -> np.ndarray:
    """Band-passed noise whose centre wanders and whose gusts rise and fall slowly."""
    centre_hz = 450 * 2 ** (1.2 * wander(rng, frames, rate_hz, (11.0, 23.0, 37.0)))
    gusts = 0.55 + 0.45 * wander(rng, frames, rate_hz, (9.0, 19.0, 31.0))
    return swept(pink(rng, frames), rate_hz, "bandpass", centre_hz, 0.9) * gusts * 2.0


def waves(rng: np.random.Generator, frames: int, rate_hz: int) -> np.ndarray:
    """Surf: low-pass sweeps that swell and recede on slow, incommensurate cycles."""
    swell = (0.5 + 0.5 * wander(rng, frames, rate_hz, (8.3, 11.7, 13.9))) ** 2
    cutoff_hz = 250 + 2200 * swell
    surf = swept(
        pink(rng, frames) + 0.5 * brown(rng, frames, rate_hz), rate_hz, "lowpass", cutoff_hz
    )
    return surf * (0.25 + swell)


def crickets(rng: np.random.Generator, frames: int, rate_hz: int) -> np.ndarray:
    """A few crickets at 4–5 kHz, each with its own chirp rate and place in the field."""
    out = np.zeros((2, frames), np.float32)
    t = np.arange(int(0.016 * rate_hz)) / rate_hz
    for _cricket in range(4):
        carrier_hz = rng.uniform(4200, 4900)
        pulse = np.sin(2 * np.pi * carrier_hz * t) * np.hanning(t.size)
        gap = np.zeros(int(0.012 * rate_hz))
        chirp = np.concatenate([pulse, gap, pulse, gap, pulse])
        song = events(rng, frames, rate_hz, rng.uniform(0.8, 1.8), chirp, 6.0)
        pan = rng.uniform(0.15, 0.85)
        out[0] += song * np.float32(np.sqrt(1 - pan))
        out[1] += song * np.float32(np.sqrt(pan))
    hush = filtered(pink(rng, frames), rate_hz, "bandpass", (2000.0, 6000.0))
    hush *= 0.02
    hush += out
    return hush


def fireplace(rng: np.random.Generator, frames: int, rate_hz: int) -> np.ndarray:
    """A low brown rumble, a soft hiss and sparse, rounded crackles."""
    rumble = filtered(brown(rng, frames, rate_hz), rate_hz, "lowpass", 300.0)
    hiss = filtered(pink(rng, frames), rate_hz, "highpass", 2500.0) * 0.04
    hiss *= 0.7 + 0.3 * wander(rng, frames, rate_hz, (3.1, 7.7))
    crackles = np.stack(
        [events(rng, frames, rate_hz, 2.5, _crackle(rng, rate_hz), 24.0) for _channel in range(2)]
    )
    crackles *= 0.5
    rumble += hiss  # rumble + hiss + crackles * 0.5, in place: a long segment's buffers are large
    rumble += crackles
    return rumble


def _crackle(rng: np.random.Generator, rate_hz: int) -> np.ndarray:
    return ringing(decaying_noise(rng, rate_hz, 0.01, 0.0015), rate_hz, "lowpass", 5000.0)


def night_forest(rng: np.random.Generator, frames: int, rate_hz: int) -> np.ndarray:
    """Wind in the trees with crickets far off."""
    distant = filtered(crickets(rng, frames, rate_hz), rate_hz, "lowpass", 5200.0)
    return wind(rng, frames, rate_hz) * 0.8 + distant * 0.2
