"""A streaming meter: an encoded file decoded by ffmpeg and measured per 100 ms hop.

Per hop it keeps the BS.1770 block power, the true peak and the spectrum's power and centroid
moment, so any span of a long story can be measured afterwards from a few numbers a second;
the audio itself is read ten seconds at a time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import spectrogram

from .export import require_ffmpeg
from .master import integrated_lufs
from .measure import HOP_FRAMES, RATE_HZ, levels, window_powers
from .measure import decode as decode_file

HOP_S = 0.1
"""BS.1770's block step: 400 ms blocks start every hop."""
_BLOCK_HOPS = 4


def _lufs(power: np.ndarray | float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return -0.691 + 10 * np.log10(power)


@dataclass(frozen=True, eq=False)
class Hops:
    """A decoded story, measured per 100 ms hop; spans are given in seconds."""

    block_powers: np.ndarray
    """K-weighted power of the 400 ms block starting at each hop (three fewer than the hops)."""
    peaks: np.ndarray
    """Largest true-peak magnitude within each hop."""
    power: np.ndarray
    """Spectral power of each hop (Hann window, channels summed)."""
    moment: np.ndarray
    """Spectral power times frequency in Hz, summed over the frequencies."""

    @property
    def count(self) -> int:
        return int(self.peaks.size)

    @property
    def duration_s(self) -> float:
        return self.count * HOP_S

    def span(self, start_s: float, end_s: float) -> slice:
        start = min(max(round(start_s / HOP_S), 0), self.count)
        return slice(start, max(min(round(end_s / HOP_S), self.count), start))

    def blocks(self, start_s: float, end_s: float) -> np.ndarray:
        """The powers of the blocks that lie wholly within a span."""
        span = self.span(start_s, end_s)
        return self.block_powers[span.start : max(span.stop - _BLOCK_HOPS + 1, span.start)]

    def momentary_lufs(self) -> np.ndarray:
        """Momentary loudness of each 400 ms block (-inf where silent)."""
        return _lufs(self.block_powers)

    def loudness_lufs(self, start_s: float, end_s: float) -> float:
        """Integrated (gated) loudness of a span."""
        return integrated_lufs(self.blocks(start_s, end_s))

    def mean_lufs(self, start_s: float, end_s: float) -> float:
        """Ungated loudness of a span: its mean block power."""
        blocks = self.blocks(start_s, end_s)
        return float(_lufs(blocks.mean())) if blocks.size else float("-inf")

    def momentary_excess_lu(self, start_s: float, end_s: float) -> float | None:
        """The loudest momentary loudness of a span above its integrated loudness."""
        blocks = self.blocks(start_s, end_s)
        integrated = integrated_lufs(blocks)
        return float(_lufs(blocks.max()) - integrated) if np.isfinite(integrated) else None

    def true_peak_dbtp(self, start_s: float, end_s: float) -> float:
        return float(20 * np.log10(np.max(self.peaks[self.span(start_s, end_s)], initial=1e-12)))

    def centroid_hz(self, start_s: float, end_s: float, where: np.ndarray) -> float | None:
        """Power-weighted spectral centroid of the span's hops that `where` marks."""
        span = self.span(start_s, end_s)
        power, moment = (x[span][where[span]].sum() for x in (self.power, self.moment))
        return float(moment / power) if power > 0 else None

    def centroids_hz(self, window_s: float, where: np.ndarray) -> np.ndarray:
        """The centroid of the marked hops per window (NaN where a window has none)."""
        per = round(window_s / HOP_S)
        pad = -self.count % per
        power, moment = (
            np.pad(np.where(where, x, 0.0), (0, pad)).reshape(-1, per).sum(axis=1)
            for x in (self.power, self.moment)
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(moment / power)


def decode(path: Path) -> Iterator[np.ndarray]:
    """The file as float32 (2, frames) pieces of PIECE_FRAMES; a last partial hop is dropped."""
    for piece in decode_file(require_ffmpeg(), path):
        frames = piece.shape[1] // HOP_FRAMES * HOP_FRAMES
        if frames:
            yield piece[:, :frames]


def measure(pieces: Iterable[np.ndarray]) -> Hops:
    """Measure consecutive (channels, frames) pieces, each a whole number of hops, as one: the
    loudness and true peaks as the encoded files are measured, and each hop's spectrum."""
    spectra: list[tuple[np.ndarray, np.ndarray]] = []

    def spectral(pieces: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for piece in pieces:
            freqs_hz, _, sxx = spectrogram(
                piece, RATE_HZ, "hann", HOP_FRAMES, 0, scaling="spectrum"
            )
            summed = sxx.astype(np.float64).sum(axis=0)
            spectra.append((summed.sum(axis=0), (summed * freqs_hz[:, None]).sum(axis=0)))
            yield piece

    found = levels(spectral(pieces), 0)
    power, moment = (np.concatenate([s[i] for s in spectra] or [np.zeros(0)]) for i in (0, 1))
    return Hops(window_powers(found.energy, _BLOCK_HOPS), found.peaks, power, moment)
