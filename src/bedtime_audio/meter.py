"""A streaming meter: an encoded file decoded by ffmpeg and measured per 100 ms hop.

Per hop it keeps the BS.1770 block power, the true peak and the spectrum's power and centroid
moment, so any span of a long story can be measured afterwards from a few numbers a second;
the audio itself is read ten seconds at a time."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import spectrogram

from .audio import Audio
from .errors import BedtimeError
from .export import require_ffmpeg
from .master import block_powers, integrated_lufs, true_peak_envelope

RATE_HZ = 44100
HOP_S = 0.1
"""BS.1770's block step: 400 ms blocks start every hop."""
HOP_FRAMES = round(HOP_S * RATE_HZ)
PIECE_FRAMES = 100 * HOP_FRAMES
"""Decoded and measured at once: ten seconds."""
_PREROLL_HOPS = 10
"""Audio carried into the next piece so its K-weighting and oversampling have settled."""
_BLOCK_HOPS = 4
_FRAME_BYTES = 8
"""Two channels of little-endian float32."""


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
    args = [*"-nostdin -v error -i".split(), str(path), *f"-f f32le -ac 2 -ar {RATE_HZ} -".split()]
    with (
        tempfile.TemporaryFile() as log,
        subprocess.Popen([require_ffmpeg(), *args], stdout=subprocess.PIPE, stderr=log) as ffmpeg,
    ):
        assert ffmpeg.stdout is not None
        while data := ffmpeg.stdout.read(PIECE_FRAMES * _FRAME_BYTES):
            frames = len(data) // _FRAME_BYTES // HOP_FRAMES * HOP_FRAMES
            if frames:
                yield np.frombuffer(data[: frames * _FRAME_BYTES], "<f4").reshape(-1, 2).T
        if ffmpeg.wait() != 0:
            log.seek(0)
            message = log.read().decode(errors="replace").strip()
            raise BedtimeError(f"{path}: ffmpeg could not decode it: {message}")


def measure(pieces: Iterable[np.ndarray]) -> Hops:
    """Measure consecutive (channels, frames) pieces, each a whole number of hops, as one.

    Each piece is measured after the last second of the one before, so the blocks and true
    peaks that straddle a seam come out as they would from the whole buffer."""
    parts: list[tuple[np.ndarray, ...]] = []
    carry: np.ndarray | None = None
    for piece in pieces:
        joined = piece if carry is None else np.concatenate([carry, piece], axis=1)
        skip = 0 if carry is None else carry.shape[1] // HOP_FRAMES
        parts.append(_measure_piece(Audio(joined, RATE_HZ), skip))
        carry = joined[:, -_PREROLL_HOPS * HOP_FRAMES :]
    if not parts:
        return Hops(*(np.zeros(0) for _ in range(4)))
    blocks, peaks, power, moment = (list(column) for column in zip(*parts, strict=True))
    peaks = [p[:-1] for p in peaks] + [peaks[-1][-1:]]  # a piece's last hop lacks what follows
    return Hops(*(np.concatenate(column) for column in (blocks, peaks, power, moment)))


def _measure_piece(audio: Audio, skip: int) -> tuple[np.ndarray, ...]:
    """New blocks and spectra after `skip` hops of pre-roll; peaks from one hop earlier."""
    blocks = block_powers(audio)[max(skip - _BLOCK_HOPS + 1, 0) :]
    peaks = true_peak_envelope(audio).reshape(-1, HOP_FRAMES).max(axis=1)[max(skip - 1, 0) :]
    samples = audio.samples[:, skip * HOP_FRAMES :]
    freqs_hz, _, sxx = spectrogram(samples, RATE_HZ, "hann", HOP_FRAMES, 0, scaling="spectrum")
    spectra = sxx.astype(np.float64).sum(axis=0)
    return blocks, peaks, spectra.sum(axis=0), (spectra * freqs_hz[:, None]).sum(axis=0)
