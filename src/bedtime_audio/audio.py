"""The one audio type: float32 samples shaped (channels, frames), with their sample rate."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly


@dataclass(frozen=True, eq=False)
class Audio:
    """Immutable audio. Operations return new values; the samples array is read-only."""

    samples: np.ndarray
    """float32, shape (channels, frames), nominally within [-1, 1]."""
    rate_hz: int
    """Frames per second."""

    def __post_init__(self) -> None:
        data = np.asarray(self.samples, dtype=np.float32)
        if data.ndim == 1:
            data = data[np.newaxis, :]
        if data.ndim != 2:
            raise ValueError(f"audio must be (channels, frames), got shape {data.shape}")
        data.flags.writeable = False
        object.__setattr__(self, "samples", data)

    @classmethod
    def from_pcm16(cls, pcm: bytes, rate_hz: int, channels: int = 1) -> Audio:
        ints = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        return cls(ints.reshape(-1, channels).T, rate_hz)

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def frames(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate_hz

    def gain(self, gain_db: float) -> Audio:
        return Audio(self.samples * np.float32(10 ** (gain_db / 20)), self.rate_hz)

    def scaled(self, gain: np.ndarray) -> Audio:
        """Each frame multiplied by its own gain (a curve, one value per frame)."""
        return Audio(self.samples * gain.astype(np.float32, copy=False), self.rate_hz)

    def resample(self, rate_hz: int) -> Audio:
        if rate_hz == self.rate_hz:
            return self
        ratio = Fraction(rate_hz, self.rate_hz)
        out = resample_poly(self.samples, ratio.numerator, ratio.denominator, axis=1)
        return Audio(out.astype(np.float32), rate_hz)

    def to_channels(self, channels: int) -> Audio:
        if channels == self.channels:
            return self
        if self.channels == 1:
            return Audio(np.repeat(self.samples, channels, axis=0), self.rate_hz)
        if channels == 1:
            return Audio(self.samples.mean(axis=0, keepdims=True), self.rate_hz)
        raise ValueError(f"cannot map {self.channels} channels to {channels}")

    def conform(self, rate_hz: int, channels: int) -> Audio:
        """The same sound at another sample rate and channel count."""
        return self.resample(rate_hz).to_channels(channels)

    def slice_s(self, start_s: float, end_s: float | None = None) -> Audio:
        start = round(start_s * self.rate_hz)
        end = self.frames if end_s is None else round(end_s * self.rate_hz)
        return Audio(self.samples[:, start:end], self.rate_hz)

    def trim_silence(self, threshold_db: float = -50.0, keep_s: float = 0.05) -> Audio:
        """Drop leading and trailing near-silence, keeping a short margin."""
        level = np.abs(self.samples).max(axis=0)
        loud = np.flatnonzero(level > 10 ** (threshold_db / 20))
        if loud.size == 0:
            return Audio(self.samples[:, :0], self.rate_hz)
        keep = round(keep_s * self.rate_hz)
        start, end = max(0, loud[0] - keep), min(self.frames, loud[-1] + 1 + keep)
        return Audio(self.samples[:, start:end], self.rate_hz)

    def pcm16(self) -> bytes:
        """Interleaved little-endian 16-bit PCM, clipped to full scale."""
        clipped = np.clip(self.samples, -1.0, 32767 / 32768)
        ints = np.round(clipped * 32768).astype("<i2")
        return ints.T.tobytes()


def equal_power(
    frames: int, fade_in: int, fade_out: int, lo: int = 0, hi: int | None = None
) -> np.ndarray:
    """A gain curve with sine-law fades (lengths in frames): a fade-out laid over a fade-in of
    the same length keeps the power of two uncorrelated signals constant. Only its frames
    [lo, hi) are made: a chapter is long."""
    hi = frames if hi is None else hi
    gain = np.ones(hi - lo, np.float32)
    for n, rising in ((min(frames, fade_in), True), (min(frames, fade_out), False)):
        start = 0 if rising else frames - n  # where the fade lies in the curve
        a, b = max(lo, start), min(hi, start + n)
        if n and a < b:
            step = np.arange(a - start, b - start, dtype=np.float64)
            if not rising:
                step = (n - 1) - step
            gain[a - lo : b - lo] *= np.sin(step * (np.pi / 2 / max(1, n - 1))).astype(np.float32)
    return gain


Piece = tuple[int, Callable[[], np.ndarray]]
"""Audio placed at a frame of a longer stretch: its start, and what makes its (channels, frames)
float32 samples when they are first heard."""


def assembled(
    pieces: Iterable[Piece], frames: int, block: int, channels: int = 2
) -> Iterator[tuple[int, np.ndarray]]:
    """Pieces in order of their start, added together and cut into blocks of `block` frames
    (the last the rest) of a stretch of `frames`, each with its start: only the pieces a block
    hears are held."""
    coming = iter(pieces)
    held: list[tuple[int, np.ndarray]] = []
    following = next(coming, None)
    for lo in range(0, frames, block):
        hi = min(frames, lo + block)
        while following is not None and following[0] < hi:
            held.append((following[0], following[1]()))
            following = next(coming, None)
        out = np.zeros((channels, hi - lo), np.float32)
        for start, samples in held:
            a, b = max(lo, start), min(hi, start + samples.shape[1])
            if a < b:
                out[:, a - lo : b - lo] += samples[:, a - start : b - start]
        held = [(start, samples) for start, samples in held if start + samples.shape[1] > hi]
        yield lo, out
