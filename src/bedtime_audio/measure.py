"""Encoded audio measured as a listener's player decodes it, in levels per 100 ms hop of the
story: the K-weighted energy (BS.1770) and the true peak. A stretch of the story measured on its
own gives the hops it covers, partial ones at its ends; the stretches' levels add up to the
story's, and the story's loudness, loudness range and peaks come from them. Memory does not grow
with the story: the audio is read half a second at a time, and a hop is two numbers."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from .audio import Audio
from .errors import BedtimeError
from .master import integrated_lufs, k_weighted_energy, true_peak_envelope
from .workdir import DIE_WITH_PARENT

RATE_HZ = 44100
HOP_FRAMES = RATE_HZ // 10
"""BS.1770's block step: 400 ms blocks start every 100 ms."""
PIECE_FRAMES = 5 * HOP_FRAMES
"""Decoded and measured at once: half a second. Small pieces stay in the processor's cache, and
their buffers are reused, not fresh memory from the system each time (see executors.py's
return_large_buffers): a third of the measuring's time went on that."""
_BLOCK_HOPS = 4
_SHORT_TERM_HOPS = 30
"""EBU Tech 3342's loudness range is taken over 3 s windows."""
_PEAK_CONTEXT = 64
"""Frames on each side that the 4× oversampling filter needs to see."""
_FRAME_BYTES = 8
"""Two channels of little-endian float32."""


@dataclass(frozen=True)
class Measured:
    """An encoded file as a listener's player decodes it."""

    integrated_lufs: float
    loudness_range_lu: float
    span_peaks_dbtp: tuple[float, ...]
    """The true peak within each span asked for (or the whole file)."""
    span_lufs: tuple[float, ...]
    """The integrated loudness of each span asked for (or the whole file)."""

    @property
    def true_peak_dbtp(self) -> float:
        return max(self.span_peaks_dbtp)

    def figures(self) -> dict[str, float]:
        return {
            "integrated_lufs": self.integrated_lufs,
            "loudness_range_lu": self.loudness_range_lu,
            "true_peak_dbtp": self.true_peak_dbtp,
        }


@dataclass(frozen=True, eq=False)
class Levels:
    """Per hop of the story from `first_hop` on: K-weighted energy (the sum over the channels of
    the squared samples) and the largest true-peak magnitude."""

    first_hop: int
    energy: np.ndarray
    peaks: np.ndarray

    def to_bytes(self) -> tuple[bytes, bytes]:
        return self.energy.astype("<f8").tobytes(), self.peaks.astype("<f4").tobytes()

    @classmethod
    def from_bytes(cls, first_hop: int, data: memoryview | bytes) -> Levels:
        """Levels of their own, copied out of `data`: never a view that would keep a larger
        buffer they were read from (a stretch's encoded frames) in memory."""
        hops = len(data) // 12
        energy = np.frombuffer(data[: 8 * hops], "<f8").copy()
        return cls(first_hop, energy, np.frombuffer(data[8 * hops :], "<f4").copy())

    @staticmethod
    def joined(parts: Iterable[Levels]) -> Levels:
        """The levels of consecutive stretches as one: a hop two of them share adds up."""
        parts = list(parts)
        hops = max(p.first_hop + p.energy.size for p in parts)
        energy, peaks = np.zeros(hops), np.zeros(hops, np.float32)
        for part in parts:
            at = slice(part.first_hop, part.first_hop + part.energy.size)
            energy[at] += part.energy
            np.maximum(peaks[at], part.peaks, out=peaks[at])
        return Levels(0, energy, peaks)

    def measured(self, frames: int, spans: Sequence[tuple[float, float]] = ()) -> Measured:
        """The figures of a story `frames` long (its levels from hop 0), per span of seconds
        too: the hops a span touches."""
        whole = frames // HOP_FRAMES  # a last partial hop belongs to no block
        blocks = window_powers(self.energy[:whole], _BLOCK_HOPS)
        spans = spans or [(0.0, frames / RATE_HZ)]
        hop_spans = [
            (round(start_s * RATE_HZ) // HOP_FRAMES, -(-round(end_s * RATE_HZ) // HOP_FRAMES))
            for start_s, end_s in spans
        ]
        peak_db = [
            float(20 * np.log10(max(float(self.peaks[lo:hi].max(initial=0.0)), 1e-12)))
            for lo, hi in hop_spans
        ]
        span_lufs = [
            integrated_lufs(blocks[lo : max(lo, min(hi, whole) - _BLOCK_HOPS + 1)])
            for lo, hi in hop_spans
        ]
        return Measured(
            integrated_lufs(blocks),
            _loudness_range(window_powers(self.energy[:whole], _SHORT_TERM_HOPS)),
            tuple(peak_db),
            tuple(span_lufs),
        )


def window_powers(energy: np.ndarray, hops: int) -> np.ndarray:
    """Mean-square power of each window of `hops` hops, one starting at every hop."""
    if energy.size < hops:
        return np.zeros(0)
    return np.convolve(energy, np.ones(hops), mode="valid") / (hops * HOP_FRAMES)


def _loudness_range(short_term: np.ndarray) -> float:
    """EBU Tech 3342: the spread between the 10th and 95th percentiles of the short-term
    loudness, gated at -70 LUFS and 20 LU under the mean."""
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10 * np.log10(short_term)
    audible = short_term[loudness >= -70.0]
    if audible.size == 0:
        return 0.0
    relative = -0.691 + 10 * np.log10(audible.mean()) - 20.0
    gated = loudness[(loudness >= -70.0) & (loudness >= relative)]
    low, high = np.percentile(gated, [10, 95])
    return float(high - low)


def levels(
    pieces: Iterable[np.ndarray],
    first: int,
    lo: int = 0,
    hi: int = sys.maxsize,
    limit: float | None = None,
) -> Levels:
    """The levels of story frames [lo, hi) from decoded (2, frames) float32 pieces, the first
    starting at story frame `first`. Audio decoded before `lo` settles the K-weighting and the
    oversampling as the story's own audio before it would; a hop cut by `lo` or `hi` holds only
    its part inside.

    With a `limit` (a magnitude), the true peak is found only where it could pass the limit or
    the loudest true peak found before it; elsewhere a hop holds its largest sample magnitude,
    which is no larger. The largest peak, and every one over the limit, are exact, and most of
    a story's frames are not oversampled (see true_peak_envelope)."""
    energies: list[tuple[int, np.ndarray]] = []
    peaks: list[tuple[int, np.ndarray]] = []
    state = None
    carry = np.zeros((2, 0), np.float32)
    position = done = joined_start = first  # done: frames before it have their true peaks
    envelope = np.zeros(0, np.float32)
    loudest = 0.0  # of the true peaks settled within [lo, hi)
    for piece in pieces:
        energy, state = k_weighted_energy(piece, state)
        energies += _binned(energy, position, lo, hi, np.add)
        joined = np.concatenate([carry, piece], axis=1)
        joined_start = position - carry.shape[1]
        floor = 0.0 if limit is None else min(limit, loudest)
        envelope = true_peak_envelope(Audio(joined, RATE_HZ), floor)
        settled = joined_start + joined.shape[1] - _PEAK_CONTEXT  # later ones await what follows
        if settled > done:
            part = envelope[done - joined_start : settled - joined_start]
            binned = _binned(part, done, lo, hi, np.maximum)
            peaks += binned
            loudest = max([loudest, *(float(hop_peaks.max()) for _, hop_peaks in binned)])
            done = settled
        carry = joined[:, -2 * _PEAK_CONTEXT :]
        position += piece.shape[1]
    peaks += _binned(envelope[done - joined_start :], done, lo, hi, np.maximum)  # the end
    first_hop = lo // HOP_FRAMES
    hops = max((hop + part.size for hop, part in energies), default=first_hop) - first_hop
    found = Levels(first_hop, np.zeros(hops), np.zeros(hops, np.float32))
    for hop, part in energies:
        found.energy[hop - first_hop : hop - first_hop + part.size] += part
    for hop, part in peaks:
        at = found.peaks[hop - first_hop : hop - first_hop + part.size]
        np.maximum(at, part, out=at)
    return found


def _binned(
    values: np.ndarray, start: int, lo: int, hi: int, combine: np.ufunc
) -> list[tuple[int, np.ndarray]]:
    """Per-frame values from story frame `start` on, within [lo, hi), combined per hop: the
    first hop they touch, and a value for it and each after."""
    a, b = max(start, lo), min(start + values.size, hi)
    if a >= b:
        return []
    hop = a // HOP_FRAMES
    starts = np.arange((hop + 1) * HOP_FRAMES, b, HOP_FRAMES) - a
    return [(hop, combine.reduceat(values[a - start : b - start], np.r_[0, starts]))]


def decode(
    ffmpeg: str, path: Path | str, input_format: str | None = None, stdin: IO[bytes] | None = None
) -> Iterator[np.ndarray]:
    """The file as float32 (2, frames) pieces of PIECE_FRAMES (the last one shorter), at
    RATE_HZ, as a player decodes it. With `stdin` and the path "pipe:0", the stream is read
    from `stdin` as it is written (closed here once the decoder holds it)."""
    given = ("-f", input_format) if input_format else ()
    args = ["-nostdin", "-v", "error", *given, "-i", str(path), "-f", "f32le", "-ac", "2"]
    with (
        tempfile.TemporaryFile() as log,
        subprocess.Popen(
            [ffmpeg, *args, "-ar", str(RATE_HZ), "-"],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=log,
            preexec_fn=DIE_WITH_PARENT,
        ) as process,
    ):
        if stdin is not None:
            stdin.close()  # the decoder's now: it sees the end when the writer closes
        assert process.stdout is not None
        while data := process.stdout.read(PIECE_FRAMES * _FRAME_BYTES):
            yield np.frombuffer(data, "<f4").reshape(-1, 2).T
        if process.wait() != 0:
            log.seek(0)
            message = log.read().decode(errors="replace").strip()
            raise BedtimeError(f"{path}: ffmpeg could not decode it: {message}")


def measure_file(ffmpeg: str, path: Path, spans: Sequence[tuple[float, float]] = ()) -> Measured:
    """A whole encoded file, decoded and measured."""
    frames = 0

    def counted() -> Iterator[np.ndarray]:
        nonlocal frames
        for piece in decode(ffmpeg, path):
            frames += piece.shape[1]
            yield piece

    return levels(counted(), 0).measured(frames, spans)
