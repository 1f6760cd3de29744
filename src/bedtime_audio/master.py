"""Stage 6: loudness to target, and a true-peak ceiling that survives lossy encoding."""

from __future__ import annotations

import functools

import numpy as np
import pyloudnorm
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import firwin, sosfilt, upfirdn

from .audio import Audio

TARGET_LUFS = -20.0
CEILING_DBTP = -3.0
"""The limiter's ceiling before encoding: AAC and MP3 overshoot it, and the files must stay
under PEAK_LIMIT_DBTP. A section whose encoded peaks still pass that is mastered again with a
lower ceiling."""
PEAK_LIMIT_DBTP = -1.5
"""No encoded file's true peak, as a listener's player decodes it, may pass this."""
_OVERSAMPLE = 4
_BLOCK_FRAMES = 1 << 16
"""Frames of a chapter worked on at once: their buffers stay under the megabyte from which
glibc would take fresh memory from the system each time (see executors.py)."""
_LIMIT_WINDOW_S = 0.02


_BLOCK_S, _STEP_S = 0.4, 0.1
"""BS.1770 gating blocks: 400 ms, overlapping by 75%."""
_SECOND_HOPS = round(1 / _STEP_S)


def block_powers(audio: Audio) -> np.ndarray:
    """K-weighted mean-square power of each gating block, summed over the channels.

    pyloudnorm measures one buffer at once; keeping the blocks lets a whole story be measured
    chapter by chapter, and filtering a second at a time keeps memory small and reused however
    long the chapter."""
    return _blocks(_hop_energies(audio), audio.rate_hz)


def _hop_energies(audio: Audio, states: list[np.ndarray | None] | None = None) -> np.ndarray:
    """The K-weighted energy of each whole hop, summed over the channels, filtered a second at a
    time; the filter's state at the start of each second is appended to `states` if given."""
    hop = round(_STEP_S * audio.rate_hz)
    hops = []
    state = None
    for index in range(-(-(audio.frames // hop) // _SECOND_HOPS)):
        if states is not None:
            states.append(state)
        energy, state = _second_hops(audio, index, state)
        hops.append(energy)
    return np.concatenate(hops) if hops else np.zeros(0)


def _second_hops(
    audio: Audio, index: int, state: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The K-weighted energy of the whole hops in second `index`, filtered on from `state`; and
    the filter's state after them."""
    hop = round(_STEP_S * audio.rate_hz)
    second = hop * _SECOND_HOPS
    end = min((index + 1) * second, audio.frames - audio.frames % hop)
    energy, state = k_weighted_energy(audio.samples[:, index * second : end], state, audio.rate_hz)
    return energy.reshape(-1, hop).sum(axis=1), state


def _blocks(hops: np.ndarray, rate_hz: int) -> np.ndarray:
    per_block = round(_BLOCK_S / _STEP_S)
    if hops.size < per_block:
        return np.zeros(0)
    sums = np.convolve(hops, np.ones(per_block), mode="valid")
    return sums / (round(_STEP_S * rate_hz) * per_block)


@functools.cache
def _k_weighting(rate_hz: int) -> np.ndarray:
    """BS.1770's K-weighting as pyloudnorm builds it, a high shelf then a high-pass, as
    second-order sections."""
    filters = pyloudnorm.Meter(rate_hz)._filters.values()
    return np.array([np.r_[stage.b * stage.passband_gain, stage.a] for stage in filters])


def k_weighted_energy(
    samples: np.ndarray, state: np.ndarray | None = None, rate_hz: int = 44100
) -> tuple[np.ndarray, np.ndarray]:
    """Per frame of (channels, frames) samples, the sum over the channels of the squared
    K-weighted signal; and the filter's state, to carry on with the samples that follow."""
    sections = _k_weighting(rate_hz)
    if state is None:
        state = np.zeros((sections.shape[0], samples.shape[0], 2))
    weighted, state = sosfilt(sections, samples.astype(np.float64), axis=1, zi=state)
    return np.einsum("cf,cf->f", weighted, weighted), state


def integrated_lufs(powers: np.ndarray) -> float:
    """BS.1770-4 gated loudness of blocks (absolute gate -70 LUFS, relative gate -10 LU)."""
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10 * np.log10(powers)
    audible = powers[loudness >= -70.0]
    if audible.size == 0:
        return float("-inf")
    relative = -0.691 + 10 * np.log10(audible.mean()) - 10.0
    gated = powers[(loudness >= -70.0) & (loudness > relative)]
    return float(-0.691 + 10 * np.log10(gated.mean()))


def loudness_lufs(audio: Audio) -> float:
    """Integrated loudness of one buffer."""
    return integrated_lufs(block_powers(audio))


def gain_to_target(audio: Audio, target_lufs: float = TARGET_LUFS) -> float:
    return _gain_to(block_powers(audio), target_lufs)


def _gain_to(powers: np.ndarray, target_lufs: float) -> float:
    measured = integrated_lufs(powers)
    return target_lufs - measured if np.isfinite(measured) else 0.0


def true_peak_envelope(audio: Audio, floor: float = 0.0) -> np.ndarray:
    """Per frame, the largest magnitude on any channel at 4× oversampling (BS.1770 annex 2)
    wherever it could reach `floor`; elsewhere, where it surely stays under `floor`, the
    frame's own largest sample magnitude. The limiter asks only where its ceiling could be
    passed (about a tenth of a story's frames), and skips oversampling the rest."""
    frames = audio.frames
    peaks = np.empty(frames, np.float32)
    for start in range(0, frames, _BLOCK_FRAMES):
        end = min(frames, start + _BLOCK_FRAMES)
        np.max(np.abs(audio.samples[:, start:end]), axis=0, out=peaks[start:end])
    for start, end in _reaching(peaks, floor):
        lo, hi = max(0, start - _MARGIN), min(frames, end + _MARGIN)
        part = audio.samples[:, lo:hi]
        loudest = np.max(np.abs(part), axis=0) * _PHASE_ZERO
        for phase in _PHASES:
            between = upfirdn(phase, part, axis=1)[:, _DELAY : _DELAY + part.shape[1]]
            np.maximum(loudest, np.max(np.abs(between), axis=0), out=loudest)
        peaks[start:end] = loudest[start - lo : end - lo]
    return peaks


_INTERPOLATOR = firwin(81, 1 / _OVERSAMPLE, window=("kaiser", 5.0)).astype(np.float32)
"""The 4× interpolating filter as resample_poly designs it by default for float32 audio."""
_PHASES = tuple(_OVERSAMPLE * _INTERPOLATOR[phase::_OVERSAMPLE] for phase in range(1, _OVERSAMPLE))
"""The filter's phases that fall between the samples: each a plain 20-tap filter. On the
samples themselves it gives the samples times its centre tap (its other taps there are within
1e-16 of zero), so that phase is not filtered."""
_PHASE_ZERO = np.float32(_OVERSAMPLE * _INTERPOLATOR[_INTERPOLATOR.size // 2])
_DELAY = _INTERPOLATOR.size // (2 * _OVERSAMPLE)
"""Frames by which each phase's output lags the frame it belongs to."""
_REACH = _OVERSAMPLE * max(
    float(np.abs(_INTERPOLATOR[phase::_OVERSAMPLE]).sum()) for phase in range(_OVERSAMPLE)
)
"""No oversampled value exceeds the largest sample within the filter's reach by more than
this factor (the largest sum of one phase's magnitudes: about 2.2)."""
_MARGIN = 64
"""Frames on each side the filter needs to see (it reaches ten)."""
_SKIP_FRAMES = 1024


def _reaching(magnitudes: np.ndarray, floor: float) -> list[tuple[int, int]]:
    """Runs of frames, at most _BLOCK_FRAMES long, whose oversampled peaks could reach floor:
    by blocks of _SKIP_FRAMES, from the largest magnitude in the block and its neighbours."""
    frames = magnitudes.size
    if floor <= 0.0:
        return [(s, min(frames, s + _BLOCK_FRAMES)) for s in range(0, frames, _BLOCK_FRAMES)]
    blocks = np.maximum.reduceat(magnitudes, np.arange(0, frames, _SKIP_FRAMES))
    near = np.maximum(blocks, np.maximum(np.r_[blocks[1:], 0], np.r_[0, blocks[:-1]]))
    chosen = np.flatnonzero(near * (_REACH * 1.001) >= floor)
    runs: list[tuple[int, int]] = []
    for block in chosen:
        start, end = int(block) * _SKIP_FRAMES, min(frames, (int(block) + 1) * _SKIP_FRAMES)
        if runs and runs[-1][1] == start and end - runs[-1][0] <= _BLOCK_FRAMES:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    return runs


def true_peak_dbtp(audio: Audio) -> float:
    peak = float(true_peak_envelope(audio).max()) if audio.frames else 0.0
    return 20 * np.log10(max(peak, 1e-12))


def limiter_gain(audio: Audio, ceiling_dbtp: float = CEILING_DBTP) -> np.ndarray:
    """Per frame, the smooth gain (at most 1) that brings every true peak to the ceiling.

    A minimum filter spreads each needed reduction over a window before and after the peak; a
    moving average of the same width smooths it and cannot rise above the minimum it covers,
    so every peak ends at or under the ceiling. Both run only around the peaks: elsewhere the
    gain is 1."""
    ceiling = np.float32(10 ** (ceiling_dbtp / 20))
    envelope = true_peak_envelope(audio, float(ceiling))
    np.maximum(envelope, 1e-12, out=envelope)
    needed = np.minimum(1.0, np.divide(ceiling, envelope, out=envelope), out=envelope)
    width = 2 * round(_LIMIT_WINDOW_S * audio.rate_hz) + 1
    gain = needed  # 1 wherever nothing is needed, and float32: a chapter is long
    reduced = np.flatnonzero(needed < 1.0)
    if reduced.size == 0:
        return gain
    # peaks further apart than two windows do not reach one another's smoothing
    breaks = np.flatnonzero(np.diff(reduced) > 2 * width)
    for first, last in zip(reduced[np.r_[0, breaks + 1]], reduced[np.r_[breaks, -1]], strict=True):
        lo, hi = max(0, first - width), min(audio.frames, last + width + 1)
        part = needed[lo:hi]  # no other peak's smoothing reaches it, nor is written into it
        smooth = uniform_filter1d(
            minimum_filter1d(part, width, mode="nearest"), width, mode="nearest"
        )
        np.minimum(smooth, part, out=part)
    return gain


def limit(audio: Audio, ceiling_dbtp: float = CEILING_DBTP) -> Audio:
    """Smooth gain reduction wherever the true peak would pass the ceiling."""
    return audio.scaled(limiter_gain(audio, ceiling_dbtp))


def master(audio: Audio, gain_db: float, ceiling_dbtp: float = CEILING_DBTP) -> Audio:
    return _mastered(audio, gain_db, ceiling_dbtp)[0]


def _mastered(audio: Audio, gain_db: float, ceiling_dbtp: float) -> tuple[Audio, np.ndarray]:
    """The audio at gain_db, limited, and the limiter's curve: the gain and the limiter work
    in one buffer, for a chapter is long."""
    loud = audio.samples * np.float32(10 ** (gain_db / 20))
    curve = limiter_gain(Audio(loud.view(), audio.rate_hz), ceiling_dbtp)
    loud *= curve
    return Audio(loud, audio.rate_hz), curve


def master_to_target(
    audio: Audio, target_lufs: float = TARGET_LUFS, ceiling_dbtp: float = CEILING_DBTP
) -> tuple[Audio, float]:
    """Gain to the target and limit; the limiter takes a little loudness away, so measure
    again and correct once. Returns the master and the gain applied.

    The master is measured again only where the limiter acted: elsewhere its hops are the
    unlimited hops times the gain, and the K-weighting, started from the state it had there,
    forgets the limiter within a second (its slowest pole decays by e^-239 a second)."""
    states: list[np.ndarray | None] = []
    hops = _hop_energies(audio, states)
    gain_db = _gain_to(_blocks(hops, audio.rate_hz), target_lufs)
    mastered, curve = _mastered(audio, gain_db, ceiling_dbtp)
    heard = _limited_hops(mastered, curve, hops, states, gain_db)
    shortfall_db = _gain_to(_blocks(heard, audio.rate_hz), target_lufs)
    if abs(shortfall_db) > 0.1:
        gain_db += shortfall_db
        del mastered  # not held while mastered again
        mastered = master(audio, gain_db, ceiling_dbtp)
    return mastered, gain_db


def _limited_hops(
    mastered: Audio,
    curve: np.ndarray,
    hops: np.ndarray,
    states: list[np.ndarray | None],
    gain_db: float,
) -> np.ndarray:
    """The hop energies of `mastered`, given the unlimited audio's `hops` and `states` and the
    `gain_db` it was mastered at: the hops times the gain, but for the seconds where the
    limiter's `curve` dips, and the second after each, filtered again from the states times
    the gain."""
    hop = round(_STEP_S * mastered.rate_hz)
    usable = hops.size * hop
    heard = hops * 10 ** (gain_db / 10)
    if usable == 0:
        return heard
    dips = np.minimum.reduceat(curve[:usable], np.arange(0, usable, hop * _SECOND_HOPS)) < 1.0
    again = np.flatnonzero(dips | np.r_[False, dips[:-1]])
    state, previous = None, -2
    for index in map(int, again):
        if index != previous + 1:  # a run of seconds starts: from the unlimited audio's state
            unlimited = states[index]
            state = None if unlimited is None else unlimited * 10 ** (gain_db / 20)
        previous = index
        energy, state = _second_hops(mastered, index, state)
        heard[index * _SECOND_HOPS : index * _SECOND_HOPS + energy.size] = energy
    return heard
