"""Stage 6: loudness to target, and a true-peak ceiling that survives lossy encoding."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import numpy as np
import pyloudnorm
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import firwin, sosfilt, upfirdn

from .audio import Audio
from .executors import threaded_map

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
    chapter by chapter, and a chapter a block at a time."""
    meter = HopMeter(audio.frames, audio.rate_hz)
    meter.add(audio.samples)
    return _blocks(meter.energies(), audio.rate_hz)


class HopMeter:
    """The K-weighted energy of each whole 100 ms hop of `frames`, summed over the channels,
    given the audio in blocks of whole seconds (the last block the rest); and the filter's state
    at the start of each second, to measure a second again from."""

    def __init__(self, frames: int, rate_hz: int) -> None:
        self.rate_hz = rate_hz
        self.hop = round(_STEP_S * rate_hz)
        self.usable = frames - frames % self.hop
        self.position = 0
        self.hops: list[np.ndarray] = []
        self.states: list[np.ndarray | None] = []
        self.state: np.ndarray | None = None

    def add(self, samples: np.ndarray) -> None:
        second = self.hop * _SECOND_HOPS
        lo = self.position
        self.position += samples.shape[1]
        for start in range(lo, min(self.position, self.usable), second):
            self.states.append(self.state)
            end = min(start + second, self.usable)
            energy, self.state = _hops(samples[:, start - lo : end - lo], self.state, self.rate_hz)
            self.hops.append(energy)

    def energies(self) -> np.ndarray:
        return np.concatenate(self.hops) if self.hops else np.zeros(0)

    def gain_to(self, target_lufs: float) -> float:
        """The gain that brings what was measured to the target, before any limiting."""
        return _gain_to(_blocks(self.energies(), self.rate_hz), target_lufs)


def _hops(
    samples: np.ndarray, state: np.ndarray | None, rate_hz: int
) -> tuple[np.ndarray, np.ndarray]:
    """The K-weighted energy of each whole hop of the samples, filtered on from `state`; and
    the filter's state after them."""
    energy, state = k_weighted_energy(samples, state, rate_hz)
    return energy.reshape(-1, round(_STEP_S * rate_hz)).sum(axis=1), state


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


def _limiter_reach(rate_hz: int) -> int:
    """How far the limiter's gain at a frame looks: its smoothing (a window before and after)
    and the true-peak envelope's own margin."""
    return 2 * round(_LIMIT_WINDOW_S * rate_hz) + 1 + _MARGIN + _SKIP_FRAMES


def limit(audio: Audio, ceiling_dbtp: float = CEILING_DBTP) -> Audio:
    """Smooth gain reduction wherever the true peak would pass the ceiling."""
    return audio.scaled(limiter_gain(audio, ceiling_dbtp))


def master(audio: Audio, gain_db: float, ceiling_dbtp: float = CEILING_DBTP) -> Audio:
    """The audio at gain_db, limited: the gain and the limiter work in one buffer."""
    loud = audio.samples * np.float32(10 ** (gain_db / 20))
    loud *= limiter_gain(Audio(loud.view(), audio.rate_hz), ceiling_dbtp)
    return Audio(loud, audio.rate_hz)


Read = Callable[[int, int], np.ndarray]
"""Frames [lo, hi) of audio kept elsewhere (a chapter on disk), as a new (channels, n) array."""


def mastered_blocks(
    read: Read,
    frames: int,
    rate_hz: int,
    gain_db: float,
    ceiling_dbtp: float,
    block: int,
    threads: int = 1,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """`master` a block at a time (`threads` blocks at once): where each block starts, the block
    at gain_db and limited, and the limiter's gain there. The limiter sees as far past each
    block's ends as it reaches, so the blocks are the audio mastered whole."""
    gain = np.float32(10 ** (gain_db / 20))

    def mastered(lo: int) -> tuple[int, np.ndarray, np.ndarray]:
        hi = min(frames, lo + block)
        reach = _limiter_reach(rate_hz)
        start, end = max(0, lo - reach), min(frames, hi + reach)
        loud = read(start, end)
        loud *= gain
        curve = limiter_gain(Audio(loud.view(), rate_hz), ceiling_dbtp)[lo - start : hi - start]
        part = loud[:, lo - start : hi - start]
        part *= curve
        return lo, part, curve

    return threaded_map(mastered, range(0, frames, block), threads)


class LimitedLoudness:
    """The hops of the master at gain_db, measured as its blocks are made (in order), from
    what `meter` measured of the audio before it: the limiter takes a little loudness away.

    A second is measured again only where the limiter acted: elsewhere its hops are the
    unlimited hops times the gain, and the K-weighting, started from the state it had there,
    forgets the limiter within a second (its slowest pole decays by e^-239 a second)."""

    def __init__(self, meter: HopMeter, gain_db: float) -> None:
        self.meter, self.gain_db = meter, gain_db
        self.heard = meter.energies() * 10 ** (gain_db / 10)
        self.state: np.ndarray | None = None
        self.previous, self.dipped = -2, False

    def add(self, lo: int, part: np.ndarray, curve: np.ndarray) -> None:
        """The mastered block at `lo`, and the limiter's gain over it."""
        meter = self.meter
        second = meter.hop * _SECOND_HOPS
        for start in range(lo, min(lo + part.shape[1], meter.usable), second):
            index, end = start // second, min(start + second, meter.usable)
            dips = bool(curve[start - lo : end - lo].min() < 1.0)
            if dips or self.dipped:  # the limiter acted here or in the second before
                if index != self.previous + 1:  # from the unlimited audio's state
                    unlimited = meter.states[index]
                    self.state = (
                        None if unlimited is None else unlimited * 10 ** (self.gain_db / 20)
                    )
                energy, self.state = _hops(
                    part[:, start - lo : end - lo], self.state, meter.rate_hz
                )
                self.heard[index * _SECOND_HOPS : index * _SECOND_HOPS + energy.size] = energy
                self.previous = index
            self.dipped = dips

    def correction_db(self, target_lufs: float) -> float:
        """The gain still wanted to bring the master to the target: 0 when under 0.1 dB."""
        shortfall_db = _gain_to(_blocks(self.heard, self.meter.rate_hz), target_lufs)
        return shortfall_db if abs(shortfall_db) > 0.1 else 0.0


def gain_to_target_after_limiting(
    read: Read,
    frames: int,
    rate_hz: int,
    meter: HopMeter,
    target_lufs: float,
    ceiling_dbtp: float,
    block: int,
    threads: int = 1,
) -> float:
    """The gain that brings the audio `meter` measured to the target, the limiter included: the
    master is measured (`LimitedLoudness`) and corrected once."""
    gain_db = meter.gain_to(target_lufs)
    heard = LimitedLoudness(meter, gain_db)
    for lo, part, curve in mastered_blocks(
        read, frames, rate_hz, gain_db, ceiling_dbtp, block, threads
    ):
        heard.add(lo, part, curve)
    return gain_db + heard.correction_db(target_lufs)


def master_to_target(
    audio: Audio, target_lufs: float = TARGET_LUFS, ceiling_dbtp: float = CEILING_DBTP
) -> tuple[Audio, float]:
    """Gain to the target and limit (see `gain_to_target_after_limiting`). Returns the master
    and the gain applied."""
    meter = HopMeter(audio.frames, audio.rate_hz)
    meter.add(audio.samples)
    gain_db = gain_to_target_after_limiting(
        lambda lo, hi: np.array(audio.samples[:, lo:hi]),
        audio.frames,
        audio.rate_hz,
        meter,
        target_lufs,
        ceiling_dbtp,
        max(1, audio.frames),
    )
    return master(audio, gain_db, ceiling_dbtp), gain_db
