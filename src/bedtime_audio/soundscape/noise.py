"""Building blocks for the presets: coloured noise, slow modulators, sparse events."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
from scipy.signal import butter, lfilter, resample_poly, sosfilt

# Pinking filter (-3 dB/octave within 0.05 dB from 9 Hz to Nyquist at 44.1 kHz), from
# J. O. Smith, "Spectral Audio Signal Processing", section "Example: Synthesis of 1/f noise".
_PINK_B = np.array([0.049922035, -0.095993537, 0.050612699, -0.004408786], np.float32)
_PINK_A = np.array([1.0, -2.494956002, 2.017265875, -0.522189400], np.float32)
_BLOCK = 4096
_EVENTS_SPAN = 1 << 16
CONTROL_FRAMES = 64
"""Slow curves are computed once every CONTROL_FRAMES and joined by straight lines: nothing
they shape moves fast enough to tell (a 3-second sine moves 0.2% between points)."""


def white(rng: np.random.Generator, frames: int, channels: int = 2) -> np.ndarray:
    return rng.standard_normal((channels, frames))


def _flat(rng: np.random.Generator, frames: int, channels: int) -> np.ndarray:
    """Unit-variance uniform noise: white, like `white`, in a quarter of the time to draw.
    Filtered into pink or brown noise, each sample sums many of these and is all but Gaussian
    (pink: excess kurtosis -0.14, against -1.2 for the uniform noise itself)."""
    noise = rng.random((channels, frames), np.float32)
    noise -= 0.5
    noise *= np.float32(np.sqrt(12.0))
    return noise


def pink(rng: np.random.Generator, frames: int, channels: int = 2) -> np.ndarray:
    """1/f noise: power falls 3 dB per octave."""
    pinked = lfilter(_PINK_B, _PINK_A, _flat(rng, frames, channels), axis=1)
    pinked *= np.float32(4.0)
    return pinked


def brown(rng: np.random.Generator, frames: int, rate_hz: int, channels: int = 2) -> np.ndarray:
    """1/f² noise: a leaky integral of white noise, 6 dB per octave down above ~20 Hz."""
    leak = np.exp(-2 * np.pi * 5.0 / rate_hz)
    b, a = np.array([1 - leak], np.float32), np.array([1, -leak], np.float32)
    integral = lfilter(b, a, _flat(rng, frames, channels), axis=1)
    integral *= np.float32(8.0)
    return integral


def filtered(
    x: np.ndarray, rate_hz: int, kind: str, cutoff_hz: float | tuple[float, float], order: int = 2
) -> np.ndarray:
    """A Butterworth low-pass, high-pass or band-pass along time."""
    sos = butter(order, cutoff_hz, btype=kind, fs=rate_hz, output="sos")
    return sosfilt(sos.astype(x.dtype), x, axis=-1)


def ringing(
    kernel: np.ndarray, rate_hz: int, kind: str, cutoff_hz: float | tuple[float, float]
) -> np.ndarray:
    """A short event's kernel through `filtered`, with RING_S of its ring-out: what a track of
    its copies, filtered, would hold. Filter the kernel, not the track: between sparse events
    a filter rings down into denormal numbers, which made the track's filter 15 times as slow."""
    return filtered(np.r_[kernel, np.zeros(round(RING_S * rate_hz))], rate_hz, kind, cutoff_hz)


RING_S = 0.02
"""Long enough for the events' filters (2nd-order Butterworths from 500 Hz up) to fall 240 dB."""


def swept(
    x: np.ndarray, rate_hz: int, kind: str, cutoff_hz: np.ndarray, width: float = 0.6
) -> np.ndarray:
    """A filter on (channels, frames) whose cutoff follows a slow curve, block by block.

    For 'bandpass' the band spans cutoff × (1 ± width/2)."""
    out = np.empty_like(x)
    zi = None
    for start in range(0, x.shape[-1], _BLOCK):
        sos = _design(kind, round(float(cutoff_hz[start])), width, rate_hz).astype(x.dtype)
        if zi is None:
            zi = np.zeros((sos.shape[0], x.shape[0], 2), x.dtype)
        block = x[..., start : start + _BLOCK]
        out[..., start : start + _BLOCK], zi = sosfilt(sos, block, axis=-1, zi=zi)
    return out


@lru_cache(maxsize=4096)
def _design(kind: str, centre_hz: int, width: float, rate_hz: int) -> np.ndarray:
    band = (centre_hz * (1 - width / 2), centre_hz * (1 + width / 2))
    return butter(
        2, band if kind == "bandpass" else centre_hz, btype=kind, fs=rate_hz, output="sos"
    )


def tone(frames: int, rate_hz: float, freq_hz: float, phase: float = 0.0) -> np.ndarray:
    """A sine at freq_hz, as float32.

    One block's sine and cosine are rotated to each block's starting phase (sin(a + b) =
    sin a cos b + cos a sin b): a fifth of the cost of np.sin on every frame."""
    step = 2 * np.pi * freq_hz / rate_hz
    within = np.arange(_BLOCK) * step
    starts = np.mod(np.arange(-(-frames // _BLOCK)) * (_BLOCK * step) + phase, 2 * np.pi)
    sin_a, cos_a = (f(starts).astype(np.float32)[:, np.newaxis] for f in (np.sin, np.cos))
    cos_b, sin_b = (f(within).astype(np.float32) for f in (np.cos, np.sin))
    return (sin_a * cos_b + cos_a * sin_b).ravel()[:frames]


def at_low_rate(frames: int, rate_hz: int, make: Callable[[int, float], np.ndarray]) -> np.ndarray:
    """A sound with nothing above a few kHz (low sines under slow swells), made by
    `make(frames, rate_hz)` at a quarter of the rate and brought up to the full one: a quarter
    of the frames to make. A margin on each side keeps the resampler's edges out of it."""
    low_frames = -(-frames // _LOW_RATE_FACTOR) + 2 * _LOW_RATE_MARGIN
    made = make(low_frames, rate_hz / _LOW_RATE_FACTOR)
    full = resample_poly(made, _LOW_RATE_FACTOR, 1, axis=-1)
    start = _LOW_RATE_FACTOR * _LOW_RATE_MARGIN
    return full[..., start : start + frames]


_LOW_RATE_FACTOR = 4
_LOW_RATE_MARGIN = 32


def slow(frames: int, rate_hz: float, curve: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """A slow curve of time in seconds, as float32, computed every CONTROL_FRAMES."""
    points = np.arange(frames // CONTROL_FRAMES + 2) * (CONTROL_FRAMES / rate_hz)
    coarse = np.asarray(curve(points), np.float32)
    ramp = np.arange(CONTROL_FRAMES, dtype=np.float32) / CONTROL_FRAMES
    return (coarse[:-1, np.newaxis] + np.diff(coarse)[:, np.newaxis] * ramp).ravel()[:frames]


def lfo(frames: int, rate_hz: float, period_s: float, phase: float = 0.0) -> np.ndarray:
    """A slow sine between -1 and 1."""
    return slow(frames, rate_hz, lambda t: np.sin(2 * np.pi * t / period_s + phase))


def wander(
    rng: np.random.Generator, frames: int, rate_hz: float, periods_s: tuple[float, ...]
) -> np.ndarray:
    """A smooth curve in [-1, 1] from slow sines with incommensurate periods."""
    phases = rng.uniform(0, 2 * np.pi, len(periods_s))
    return slow(
        frames,
        rate_hz,
        lambda t: (
            sum(np.sin(2 * np.pi * t / p + ph) for p, ph in zip(periods_s, phases, strict=True))
            / len(periods_s)
        ),
    )


def events(
    rng: np.random.Generator,
    frames: int,
    rate_hz: int,
    per_s: float,
    kernel: np.ndarray,
    level_spread_db: float = 12.0,
) -> np.ndarray:
    """Poisson-timed copies of a short kernel with random levels (one channel).

    The copies that start in each stretch of _EVENTS_SPAN frames are added at once, as a
    weighted histogram of the frames they cover: the events are sparse, and convolving a whole
    train of them cost ten times as much."""
    count = rng.poisson(per_s * frames / rate_hz)
    at = rng.integers(0, max(frames, 1), count)
    levels = 10 ** (-rng.uniform(0, level_spread_db, count) / 20)
    order = np.argsort(at, kind="stable")
    out = np.zeros(frames, np.float32)
    cuts = np.searchsorted(at[order], np.arange(_EVENTS_SPAN, frames, _EVENTS_SPAN))
    for chosen in np.split(order, cuts):
        if chosen.size == 0:
            continue
        lo = at[chosen[0]]
        covered = (at[chosen, np.newaxis] - lo + np.arange(kernel.size)).ravel()
        weights = (levels[chosen, np.newaxis] * kernel).ravel()
        span = min(frames - lo, int(covered.max()) + 1)
        inside = covered < span
        out[lo : lo + span] += np.bincount(covered[inside], weights[inside], minlength=span)
    return out


def decaying_noise(
    rng: np.random.Generator, rate_hz: int, length_s: float, decay_s: float
) -> np.ndarray:
    n = max(2, int(length_s * rate_hz))
    return rng.standard_normal(n) * np.exp(-np.arange(n) / (decay_s * rate_hz))
